import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { DlogError } from "../errors.js";
import { parseListen } from "./config.js";
import { keyPair } from "./tls-files.js";
import { MIN_TOKEN_LENGTH } from "./tokens.js";

export interface MetricsHttpSettings {
  /** File holding the bearer token a scraper must send ("" : none). */
  metricsTokenFile: string;
  /** PEM certificate chain and key: serve HTTPS ("" : plain HTTP). */
  metricsTlsCert: string;
  metricsTlsKey: string;
}

/** The endpoint's token and certificate, read and checked at start (before the data dir is touched). */
export interface MetricsHttpFiles {
  token: Buffer | undefined;
  tls: { certPem: Buffer; keyPem: Buffer } | undefined;
}

export function loadMetricsHttpFiles(settings: MetricsHttpSettings): MetricsHttpFiles {
  return {
    token: loadMetricsToken(settings.metricsTokenFile),
    tls: settings.metricsTlsCert === "" ? undefined : keyPair(settings.metricsTlsCert, settings.metricsTlsKey, "--metrics-tls-cert", "--metrics-tls-key"),
  };
}

export interface MetricsEndpoint {
  address: string;
  close(): Promise<void>;
}

/** The metrics token's sha256: one line naming the flag if it is unusable, never the token. */
function loadMetricsToken(path: string): Buffer | undefined {
  if (path === "") return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DlogError("INVALID_ARGUMENT", `--metrics-token-file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const token = text.trim();
  if (/\s/.test(token))
    throw new DlogError("INVALID_ARGUMENT", `--metrics-token-file ${path}: the token must be one word (no spaces or line breaks inside it)`);
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new DlogError("INVALID_ARGUMENT", `--metrics-token-file ${path}: the token is too short: at least ${MIN_TOKEN_LENGTH} characters`);
  }
  return sha256(token);
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/**
 * Serves `render()` at GET /metrics (and /) on `listen`: any other method is 405, a missing or
 * wrong bearer token 401 when a token is set; HTTPS with a certificate.
 */
export async function serveMetrics(
  listen: string,
  { token, tls }: MetricsHttpFiles,
  metrics: { render(): Promise<string>; contentType: string },
): Promise<MetricsEndpoint> {
  const { host: bracketed, port } = parseListen(listen, "--metrics-listen");
  const host = bracketed.replace(/^\[|\]$/g, ""); // node:http wants IPv6 without brackets

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? "/").split("?")[0];
    if (path !== "/metrics" && path !== "/") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found; metrics are at /metrics\n");
      return;
    }
    // Scrapes read; nothing here changes state, so nothing but GET is taken.
    if (request.method !== "GET") {
      response.writeHead(405, { allow: "GET", "content-type": "text/plain" }).end(`method ${request.method ?? ""} not allowed; use GET\n`);
      return;
    }
    if (token && !authorized(request.headers.authorization, token)) {
      response
        .writeHead(401, { "www-authenticate": 'Bearer realm="dlog metrics"', "content-type": "text/plain" })
        .end('missing or wrong bearer token: send "Authorization: Bearer <token of --metrics-token-file>"\n');
      return;
    }
    metrics.render().then(
      (text) => response.writeHead(200, { "content-type": metrics.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${(error as Error).message}\n`),
    );
  };
  const server: Server = tls ? createTlsServer({ cert: tls.certPem, key: tls.keyPem }, handle) : createServer(handle);
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

/** Compared as sha256 digests in constant time: timing reveals neither a prefix nor a length. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match !== null && timingSafeEqual(sha256(match[1]!), expected);
}
