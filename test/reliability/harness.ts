/** Shared pieces of the reliability suite: seeded randomness, figures for the report, a stalling proxy, stalled clients. */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect as http2Connect, constants } from "node:http2";
import { type Server, type Socket, connect as netConnect, createServer } from "node:net";
import { join } from "node:path";
import { SessionRequest, type DeepPartial } from "../../src/gen/dlog/v1/reader.js";
import type { DLSN as WireDLSN } from "../../src/gen/dlog/v1/common.js";
import { ClientError, type Status, createChannel, createClient, createClientFactory } from "nice-grpc";
import { ErrorInfo, RichClientError, errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { LogServiceDefinition } from "../../src/gen/dlog/v1/log.js";
import { ReaderServiceDefinition } from "../../src/gen/dlog/v1/reader.js";
import { HealthDefinition } from "../../src/gen/grpc/health/v1/health.js";
import type { Clients } from "../helpers/dlogd.js";
import { frame } from "../helpers/raw-grpc.js";

/** Crash cycles of this run: 20 in `make test`, more with DLOG_RELIABILITY_CYCLES (the report's flag). */
export const CYCLES = Number(process.env.DLOG_RELIABILITY_CYCLES ?? 20);
/** Concurrent reader sessions of the load test: 300 in `make test`, 1000 with DLOG_RELIABILITY_SESSIONS=1000 (the report). */
export const SESSIONS = Number(process.env.DLOG_RELIABILITY_SESSIONS ?? 300);
/** The seed of every random choice (kill moments, batch sizes, ack orders): a failure is replayed with it. */
export const SEED = Number(process.env.DLOG_RELIABILITY_SEED ?? 20261202);

/** mulberry32: small, seedable, good enough to pick moments and sizes. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

/** Figures a test adds to the report: written to DLOG_RELIABILITY_OUT/<name>.json when `make reliability-report` runs. */
export function reportFigures(name: string, figures: Record<string, number | string>): void {
  const out = process.env.DLOG_RELIABILITY_OUT;
  if (!out) return;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
}

/** Like helpers/dlogd.ts `connect`, but refusals arrive as RichClientError with their ErrorInfo decoded. */
export function connectWithDetails(address: string): Clients {
  const channel = createChannel(address);
  const factory = createClientFactory().use(errorDetailsClientMiddleware);
  return {
    channel,
    logs: factory.create(LogServiceDefinition, channel),
    readers: factory.create(ReaderServiceDefinition, channel),
    health: createClient(HealthDefinition, channel),
    close: () => channel.close(),
  };
}

/** A refused call as a test checks it: the code, the ErrorInfo reason and the message. */
export interface Refusal {
  code: Status;
  reason: string | undefined;
  message: string;
}

/** The refusal of a call made through `connectWithDetails`; anything but a ClientError is thrown again. */
export function refusalOf(error: unknown): Refusal {
  if (!(error instanceof ClientError)) throw error;
  const info = error instanceof RichClientError ? error.extra.find((detail): detail is ErrorInfo => detail.$type === ErrorInfo.$type) : undefined;
  return { code: error.code, reason: info?.reason, message: error.details };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 20 ms; fails naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    await sleep(20);
  }
}

export const key = (dlsn: WireDLSN | undefined): string => (dlsn ? `${dlsn.segment}/${dlsn.entry}/${dlsn.slot}` : "unset");

export function compare(a: WireDLSN, b: WireDLSN): number {
  for (const field of ["segment", "entry", "slot"] as const) {
    if (a[field] !== b[field]) return a[field] < b[field] ? -1 : 1;
  }
  return 0;
}

/** Every record of `log` after `after` (exclusive; unset: from the start), as payload text and DLSN. */
export async function readLog(clients: Clients, log: string, after?: WireDLSN): Promise<Array<{ id: string; dlsn: WireDLSN }>> {
  const start = after
    ? { at: { $case: "dlsn" as const, value: { segment: after.segment, entry: after.entry, slot: after.slot + 1n } } }
    : { at: { $case: "boundary" as const, value: 1 } };
  const out: Array<{ id: string; dlsn: WireDLSN }> = [];
  for await (const response of clients.logs.read({ log, start, maxBatchRecords: 5_000 })) {
    for (const record of response.records) out.push({ id: record.payload.toString("utf8"), dlsn: record.dlsn! });
  }
  return out;
}

/** Resident set size of a process, in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/**
 * A TCP proxy on loopback that can stop passing bytes in both directions without closing
 * anything: to the server, its client is then stalled (pings go unanswered).
 */
export class StallingProxy {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private stalled = false;
  address = "";

  private constructor(target: string) {
    const [host, port] = splitAddress(target);
    this.server = createServer((client) => {
      const upstream = netConnect(port, host);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const forward = (from: Socket, to: Socket): void => {
        from.on("data", (chunk) => {
          if (!this.stalled) to.write(chunk);
        });
      };
      forward(client, upstream);
      forward(upstream, client);
      const end = (): void => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("close", end).on("error", end);
      upstream.on("close", end).on("error", end);
    });
  }

  static async start(target: string): Promise<StallingProxy> {
    const proxy = new StallingProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    proxy.address = `127.0.0.1:${(proxy.server.address() as { port: number }).port}`;
    return proxy;
  }

  /** From now on nothing passes: bytes from either side are dropped, connections stay open. */
  stall(): void {
    this.stalled = true;
  }

  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}

/** A TCP connection that never sends a byte (or only the HTTP/2 preface) and never reads. */
export async function idleConnection(address: string, preface = false): Promise<Socket> {
  const [host, port] = splitAddress(address);
  const socket = netConnect(port, host);
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  if (preface) socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
  socket.pause();
  return socket;
}

/**
 * A reader session over raw HTTP/2 whose client stops reading once the session is open: the
 * server fills the flow-control window and its write then waits forever.
 */
export async function stalledSession(address: string, open: DeepPartial<SessionRequest>): Promise<{ close(): void }> {
  const session = http2Connect(`http://${address}`);
  session.on("error", () => undefined);
  const stream = session.request({
    [constants.HTTP2_HEADER_METHOD]: "POST",
    [constants.HTTP2_HEADER_PATH]: "/dlog.v1.ReaderService/Session",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => undefined);
  stream.write(frame(SessionRequest.encode(SessionRequest.fromPartial(open)).finish()));
  // The first bytes (headers, Opened) arrive; then the client reads no more.
  await new Promise<void>((resolve) => stream.once("data", () => resolve()));
  stream.pause();
  return {
    close: () => {
      stream.destroy();
      session.destroy();
    },
  };
}
