import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseListen } from "./config.js";

/** A value read at scrape time, with optional labels. */
export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge";
  read(): Sample[];
}

/** Prometheus text exposition of values the server already keeps: nothing is counted twice. */
export class Metrics {
  private readonly families: Family[] = [];

  counter(name: string, help: string, read: () => number | Sample[]): void {
    this.families.push({ name, help, type: "counter", read: () => toSamples(read()) });
  }

  gauge(name: string, help: string, read: () => number | Sample[]): void {
    this.families.push({ name, help, type: "gauge", read: () => toSamples(read()) });
  }

  render(): string {
    const lines: string[] = [];
    for (const family of this.families) {
      lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
      for (const sample of family.read()) {
        const labels = sample.labels
          ? `{${Object.entries(sample.labels)
              .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"`)
              .join(",")}}`
          : "";
        lines.push(`${family.name}${labels} ${sample.value}`);
      }
    }
    return `${lines.join("\n")}\n`;
  }

  /** Serves GET /metrics on `host:port`; resolves with the bound address. */
  async listen(listen: string): Promise<{ address: string; close: () => Promise<void> }> {
    const { host: bracketed, port } = parseListen(listen, "--metrics-listen");
    const host = bracketed.replace(/^\[|\]$/g, ""); // node:http wants IPv6 without brackets
    const server: Server = createServer((request, response) => {
      if (request.url === "/metrics" || request.url === "/") {
        response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        response.end(this.render());
      } else {
        response.writeHead(404).end("not found; metrics are at /metrics\n");
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const bound = server.address() as AddressInfo;
    return {
      address: `${bracketed}:${bound.port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          // A scraper's keep-alive connection (or one stalled mid-request) must not hold shutdown up.
          server.closeAllConnections();
        }),
    };
  }
}

function toSamples(value: number | Sample[]): Sample[] {
  return typeof value === "number" ? [{ value }] : value;
}
