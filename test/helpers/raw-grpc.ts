/**
 * gRPC calls made by hand over node:http2, for requests no well-behaved client sends:
 * compressed bombs, bytes that are not protobuf, a compressed flag without grpc-encoding.
 */
import { connect as http2Connect, constants } from "node:http2";
import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

export interface RawFrame {
  /** The message bytes as they go on the wire (already compressed when `compressed`). */
  bytes: Uint8Array;
  /** Sets the frame's compressed flag. */
  compressed?: boolean;
}

export interface RawCallOptions {
  /** Extra request headers, e.g. `{ authorization: "Bearer ...", "grpc-encoding": "gzip" }`. */
  headers?: Record<string, string>;
  /** Half-close after the frames (default true). */
  end?: boolean;
  timeoutMs?: number;
}

export interface RawResult {
  /** grpc-status; -1 when the stream ended without one. */
  code: number;
  message: string;
  /** Response messages received (their raw bytes). */
  messages: Buffer[];
}

/** A gRPC message frame: flag byte, 4-byte big-endian length, message. */
export function frame(message: Uint8Array, compressed = false): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(compressed ? 1 : 0, 0);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

export function gzipFrame(message: Uint8Array): RawFrame {
  return { bytes: gzipSync(message), compressed: true };
}

/**
 * One call on its own connection. Resolves with the status from the trailers (or a
 * trailers-only response); never rejects for a gRPC error, only for a broken connection.
 */
export async function rawCall(address: string, path: string, frames: readonly RawFrame[], options: RawCallOptions = {}): Promise<RawResult> {
  const session = http2Connect(`http://${address}`);
  session.on("error", () => undefined); // reported through the request below
  try {
    return await new Promise<RawResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`raw call ${path} got no status within ${options.timeoutMs ?? 20_000} ms`)), options.timeoutMs ?? 20_000);
      const request = session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: path,
        "content-type": "application/grpc",
        te: "trailers",
        ...options.headers,
      });
      const messages: Buffer[] = [];
      let pending = Buffer.alloc(0);
      let settled = false;
      const finish = (headers: Record<string, unknown>): void => {
        if (settled || headers["grpc-status"] === undefined) return;
        settled = true;
        clearTimeout(timer);
        resolve({ code: Number(headers["grpc-status"]), message: decodeURIComponent(String(headers["grpc-message"] ?? "")), messages });
      };
      request.on("response", (headers) => finish(headers));
      request.on("trailers", (headers) => finish(headers));
      request.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          const length = pending.readUInt32BE(1);
          messages.push(pending.subarray(5, 5 + length));
          pending = pending.subarray(5 + length);
        }
      });
      request.on("close", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ code: -1, message: `stream closed (rst ${request.rstCode})`, messages });
      });
      request.on("error", (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      });
      for (const f of frames) request.write(frame(f.bytes, f.compressed ?? false));
      if (options.end ?? true) request.end();
    });
  } finally {
    session.destroy();
  }
}

/** The resident and peak memory of a process, in bytes (Linux /proc). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

/** Starts a new peak: VmHWM is reset to the current RSS (Linux >= 4.0, our own child). */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}
