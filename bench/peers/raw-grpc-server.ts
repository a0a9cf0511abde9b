import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials, type ServerDuplexStream, type ServiceDefinition } from "@grpc/grpc-js";
import { deadline } from "./measurement.js";

/** What the raw server sends on each stream. */
export interface RawServerConfig {
  records: number;
  size: number;
  recordsPerMessage: number;
  timeoutMs: number;
}

const identity = (b: Buffer): Buffer => b;

/** One bidi method whose messages are raw bytes: no protobuf on either side. */
export const rawService: ServiceDefinition = {
  stream: {
    path: "/dlog.bench.Raw/Stream",
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/**
 * A grpc-js server on 127.0.0.1:0 that, on a stream's first request, writes `records` records
 * of `size` bytes, `recordsPerMessage` concatenated per message, waiting for 'drain' whenever
 * `write()` returns false, then ends the stream.
 */
export async function startRawGrpcServer(cfg: RawServerConfig): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = new Server();
  server.addService(rawService, {
    stream: (call: ServerDuplexStream<Buffer, Buffer>) => {
      call.on("error", () => undefined);
      call.once("data", () => {
        void (async () => {
          const expired = deadline(cfg.timeoutMs);
          // Allocated once so we measure the transport; grpc-js copies each message into its own frame.
          const full = Buffer.alloc(cfg.recordsPerMessage * cfg.size, 0x61);
          let sent = 0;
          while (sent < cfg.records && !expired() && !call.cancelled) {
            const n = Math.min(cfg.recordsPerMessage, cfg.records - sent);
            sent += n;
            if (!call.write(n === cfg.recordsPerMessage ? full : full.subarray(0, n * cfg.size))) await once(call, "drain");
          }
          call.end();
        })().catch((err: unknown) => call.destroy(err instanceof Error ? err : new Error(String(err))));
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    port,
    stop: async () => {
      server.forceShutdown();
    },
  };
}

// Run as a forked child: config in argv[2], port sent to the parent, exit when the parent disconnects.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.send !== undefined) {
  const cfg = JSON.parse(process.argv[2] ?? "{}") as RawServerConfig;
  const { port, stop } = await startRawGrpcServer(cfg);
  process.once("disconnect", () => void stop().then(() => process.exit(0)));
  process.send({ port });
}
