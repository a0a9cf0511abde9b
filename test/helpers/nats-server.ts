/**
 * A real nats-server with JetStream for tests: a one-node `startNatsCluster` (nats-cluster.ts, the
 * pinned build in .tools/bin) on a free loopback port, its store in a temp dir, stopped and removed
 * by `stop()`; like every server a test starts, it dies with the test process however that ends.
 */
import { startNatsCluster } from "./nats-cluster.js";

export interface NatsServerOptions {
  /** The store lives here, kept by `stop()` (start again on it to find the same streams); a temp dir when not given. */
  dir?: string;
  /** fsync every write (`sync_interval: always`, dlog's durable setting); off by default in tests, for speed. */
  syncAlways?: boolean;
  /** Client port; a free one when not given (or 0). */
  port?: number;
}

export interface NatsServer {
  /** nats://127.0.0.1:PORT */
  url: string;
  /** HOST:PORT, as `dlogd --storage nats://` takes it. */
  hostPort: string;
  /** SIGTERM and wait for the exit; removes a temp dir. */
  stop(): Promise<void>;
  /** kill -9 and wait for the exit; keeps the store (start again on it with `dir`). */
  kill9(): Promise<void>;
  /** It no longer keeps this process alive: left running, it dies with the process. */
  unref(): void;
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const server = await startNatsCluster({
    size: 1,
    // nats-server's own default: fsync every 2 minutes.
    syncInterval: options.syncAlways ? "always" : "2m",
    ...(options.dir === undefined ? {} : { dir: options.dir }),
    ...(options.port ? { clientPorts: [options.port] } : {}),
  });
  const hostPort = server.servers[0]!;
  return {
    url: `nats://${hostPort}`,
    hostPort,
    stop: () => server.close(),
    kill9: () => server.kill9(0),
    unref: () => server.unref(),
  };
}
