import { fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { credentials, makeGenericClientConstructor, type ClientDuplexStream } from "@grpc/grpc-js";
import { FLOW_CONTROL_WINDOW_BYTES } from "../../clients/typescript/src/client.js";
import { DEFAULT_RECORDS, DEFAULT_SIZE, DEFAULT_TIMEOUT_MS, rate, type Measurement, type PeerOptions } from "./measurement.js";
import { rawService, startRawGrpcServer, type RawServerConfig } from "./raw-grpc-server.js";

export interface RawGrpcOptions extends PeerOptions {
  /** Records concatenated into one gRPC message: 1 or 64 in the anchors. */
  recordsPerMessage?: number;
  /** Run the server in this process (one event loop for both ends) or in a forked child (default). */
  server?: "child" | "same-process";
}

/** Forks raw-grpc-server.js and waits for the port it bound. */
async function startChildServer(cfg: RawServerConfig): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = fork(fileURLToPath(new URL("./raw-grpc-server.js", import.meta.url)), [JSON.stringify(cfg)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  try {
    const [msg] = (await Promise.race([
      once(child, "message"),
      once(child, "exit").then(() => Promise.reject(new Error("raw gRPC server child exited before it was ready"))),
    ])) as [{ port: number }];
    const exited = once(child, "exit");
    return {
      port: msg.port,
      stop: async () => {
        child.disconnect();
        await exited;
      },
    };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Server streams `records` of `size` bytes over a raw grpc-js bidi stream, `recordsPerMessage`
 * per message, honouring write backpressure; the client counts records until the server ends.
 * @example await rawGrpcStream({ records: 200_000, size: 100, recordsPerMessage: 64 })
 */
export async function rawGrpcStream(opts: RawGrpcOptions = {}): Promise<Measurement> {
  const { records = DEFAULT_RECORDS, size = DEFAULT_SIZE, timeoutMs = DEFAULT_TIMEOUT_MS, server = "child" } = opts;
  const perMessage = Math.max(1, opts.recordsPerMessage ?? 1);
  const cfg: RawServerConfig = { records, size, recordsPerMessage: perMessage, timeoutMs };
  const srv = server === "child" ? await startChildServer(cfg) : await startRawGrpcServer(cfg);
  const Client = makeGenericClientConstructor(rawService, "Raw");
  // The HTTP/2 window dlog's TypeScript client grants (client.ts): the limit on the same transport settings.
  const client = new Client(`127.0.0.1:${srv.port}`, credentials.createInsecure(), { "grpc-node.flow_control_window": FLOW_CONTROL_WINDOW_BYTES });
  try {
    let received = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const call = (client["stream"] as () => ClientDuplexStream<Buffer, Buffer>).call(client);
      const guard = setTimeout(() => call.cancel(), timeoutMs + 5_000);
      call.on("data", (msg: Buffer) => {
        received += msg.length / size;
      });
      call.once("end", () => {
        clearTimeout(guard);
        resolve();
      });
      call.once("error", (err) => {
        clearTimeout(guard);
        reject(err);
      });
      call.write(Buffer.from("go"));
      call.end();
    });
    const ms = performance.now() - t0;
    return rate(
      `raw grpc-js bidi, ${perMessage} rec/msg, ${size} B${server === "child" ? "" : ", same process"}`,
      received,
      ms,
      "rec/s",
      `${received} records in ${Math.ceil(received / perMessage)} messages, identity (de)serializers, server ${server === "child" ? "in a forked process" : "in the same process"}`,
      records,
    );
  } finally {
    client.close();
    await srv.stop();
  }
}
