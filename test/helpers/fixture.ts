/** A server on a fresh temp dir with clients bound to it: for one test, or shared by a file's tests. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before } from "node:test";
import { type DlogClient, type DlogClientOptions, createDlogClient } from "../../clients/typescript/src/index.js";
import { type Clients, type Dlogd, connect, scrapeMetrics, startDlogd, tempDir } from "./dlogd.js";

export interface FixtureOptions {
  /** dlogd flags; a function is first given the temp dir, to write tokens or certificates into. */
  args?: string[] | ((dir: string) => string[]);
  /** Serve /metrics (see `metrics()`). */
  metrics?: boolean;
  /** Options of `client` beside the address. */
  client?: Omit<DlogClientOptions, "address">;
}

export interface Fixture {
  server: Dlogd;
  /** The temp dir, removed by `close()`; the server's data dir is `DIR/data`. */
  dir: string;
  /** The generated nice-grpc clients. */
  clients: Clients;
  /** The TypeScript client, made on first use (a TLS server's tests make their own). */
  client: DlogClient;
  /** Metrics scraped now (the server must have been started with `metrics: true`). */
  metrics(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

export async function startFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const dir = tempDir("dlog-fixture-");
  try {
    const args = typeof options.args === "function" ? options.args(dir.path) : (options.args ?? []);
    const server = await startDlogd({ dataDir: join(dir.path, "data"), args, metrics: options.metrics ?? false });
    const clients = connect(server.address);
    let client: DlogClient | undefined;
    return {
      server,
      dir: dir.path,
      clients,
      get client() {
        client ??= createDlogClient({ ...options.client, address: server.address });
        return client;
      },
      metrics: () => {
        assert.ok(server.metricsAddress, "the server was started without metrics");
        return scrapeMetrics(server.metricsAddress);
      },
      async close() {
        client?.close();
        clients.close();
        await server.stop();
        dir.cleanup();
      },
    };
  } catch (error) {
    dir.cleanup();
    throw error;
  }
}

/**
 * One fixture for every test of a file: started before the first, closed after the last.
 * Its fields can be read from the tests (and `before` hooks registered after this call) on.
 */
export function fixtureForFile(options: FixtureOptions = {}): Fixture {
  let current: Fixture | undefined;
  before(async () => {
    current = await startFixture(options);
  });
  after(() => current?.close());
  const started = (): Fixture => {
    if (!current) throw new Error("fixtureForFile: read before the file's tests started");
    return current;
  };
  return {
    get server() {
      return started().server;
    },
    get dir() {
      return started().dir;
    },
    get clients() {
      return started().clients;
    },
    get client() {
      return started().client;
    },
    metrics: () => started().metrics(),
    close: () => started().close(),
  };
}
