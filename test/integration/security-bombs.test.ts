/**
 * Decompression and decoding bombs (issue 8, item 1): tiny compressed requests that decode into
 * millions of empty records or DLSNs are refused with the limit named, before they are decoded,
 * and an unauthenticated one before it is even read. Measured on the server's own RSS.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Metadata, Status } from "nice-grpc";
import { SessionRequest } from "../../src/gen/dlog/v1/reader.js";
import { type Clients, type DlogdProcess, bytes, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { type RawFrame, gzipFrame, memoryOf, rawCall, resetPeak } from "../helpers/raw-grpc.js";

const TOKEN = "bomb-test-token-0001";
const MIB = 1024 * 1024;
/** The server may grow by less than this while refusing a bomb. */
const RSS_BUDGET = 64 * MIB;
const APPEND = "/dlog.v1.LogService/Append";
const SESSION = "/dlog.v1.ReaderService/Session";

let server: DlogdProcess;
let clients: Clients;
let cleanup: () => void;
const auth = { authorization: `Bearer ${TOKEN}` };

before(async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  const tokens = join(dir.path, "tokens.json");
  writeFileSync(tokens, JSON.stringify({ tokens: [{ name: "all", token: TOKEN, allow: { append: ["*"], read: ["*"], admin: ["*"] } }] }));
  server = await startDlogd({ process: true, dataDir: join(dir.path, "data"), args: ["--auth-tokens", tokens] });
  clients = connect(server.address);
});

after(async () => {
  clients.close();
  await server.stop();
  cleanup();
});

/** `head` followed by `count` copies of `unit`. */
function repeated(head: number[], unit: number[], count: number): Buffer {
  const out = Buffer.alloc(head.length + unit.length * count);
  Buffer.from(head).copy(out, 0);
  out.fill(Buffer.from(unit), head.length);
  return out;
}

/** The request: AppendRequest{log: "m", records: 33 554 424 × empty}, ~64 MiB decoded. */
const appendBomb = (records: number): RawFrame => gzipFrame(repeated([0x0a, 0x01, 0x6d], [0x12, 0x00], records));

/** SessionRequest{ack: {dlsns: count × empty DLSN}}. */
function ackBomb(count: number): RawFrame {
  const body = 2 * count;
  const length: number[] = [];
  for (let n = body; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      length.push(n);
      break;
    }
    length.push((n % 128) | 0x80);
  }
  return gzipFrame(repeated([0x12, ...length], [0x0a, 0x00], count));
}

const openFrame = (log: string): RawFrame => ({
  bytes: SessionRequest.encode(SessionRequest.fromPartial({ kind: { $case: "open", value: { log, readerId: "bomb" } } })).finish(),
});

/** Runs `call` and returns its result with how much the server's peak RSS rose above its RSS before. */
async function measured<T>(call: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const pid = server.child.pid!;
  resetPeak(pid);
  const before = memoryOf(pid).rss;
  const result = await call();
  const growth = memoryOf(pid).peak - before;
  process.stdout.write(`# server RSS ${(before / MIB).toFixed(1)} MiB, peak +${(growth / MIB).toFixed(1)} MiB\n`);
  return { result, growth };
}

async function stillServing(): Promise<void> {
  const appended = await clients.logs.append({ log: "after-bomb", records: [{ payload: bytes("ok") }] }, { metadata: Metadata(auth) });
  assert.equal(appended.dlsns.length, 1, "the server still appends after the bomb");
}

test("a gzip Append bomb without a token is refused before it is read: UNAUTHENTICATED, RSS flat", { timeout: 60_000 }, async () => {
  const { result, growth } = await measured(() => rawCall(server.address, APPEND, [appendBomb(33_554_424)], { headers: { "grpc-encoding": "gzip" } }));
  assert.equal(result.code, Status.UNAUTHENTICATED, result.message);
  assert.ok(growth < RSS_BUDGET, `server RSS grew by ${(growth / MIB).toFixed(1)} MiB`);
  await stillServing();
});

test("a gzip Append bomb with a token is refused at --max-message-bytes of decompressed size, RSS < 64 MiB", { timeout: 60_000 }, async () => {
  const { result, growth } = await measured(() => rawCall(server.address, APPEND, [appendBomb(33_554_424)], { headers: { "grpc-encoding": "gzip", ...auth } }));
  assert.equal(result.code, Status.RESOURCE_EXHAUSTED, result.message);
  assert.match(result.message, /decompresses to a size larger than 4194304/);
  assert.ok(growth < RSS_BUDGET, `server RSS grew by ${(growth / MIB).toFixed(1)} MiB`);
  await stillServing();
});

test("an Append under the size limit with 1.5 M empty records is refused by count before decoding", { timeout: 60_000 }, async () => {
  const { result, growth } = await measured(() => rawCall(server.address, APPEND, [appendBomb(1_500_000)], { headers: { "grpc-encoding": "gzip", ...auth } }));
  assert.equal(result.code, Status.INVALID_ARGUMENT, result.message);
  assert.match(result.message, /^Append: an append may hold at most 10000 records \(--max-records-per-append\), got 1500000$/);
  assert.ok(growth < RSS_BUDGET, `server RSS grew by ${(growth / MIB).toFixed(1)} MiB`);
  await stillServing();
});

test("a Session ack bomb of empty DLSNs is refused (size and count), the log untouched, RSS < 64 MiB", { timeout: 60_000 }, async () => {
  await clients.logs.append({ log: "bombed", records: [{ payload: bytes("1") }] }, { metadata: Metadata(auth) });
  for (const [count, expected] of [
    [4_000_000, /decompresses to a size larger than 4194304/], // the 8 MB ack
    [1_500_000, /^Session: an ack or nack may carry at most 100000 DLSNs \(--max-dlsns-per-ack\), got 1500000$/],
  ] as const) {
    const { result, growth } = await measured(() =>
      rawCall(server.address, SESSION, [openFrame("bombed"), ackBomb(count)], { headers: { "grpc-encoding": "gzip", ...auth } }),
    );
    assert.equal(result.code, count > 2_000_000 ? Status.RESOURCE_EXHAUSTED : Status.INVALID_ARGUMENT, `${count} DLSNs: ${result.message}`);
    assert.match(result.message, expected);
    assert.ok(growth < RSS_BUDGET, `${count} DLSNs: server RSS grew by ${(growth / MIB).toFixed(1)} MiB`);
  }
  const info = await clients.logs.getLog({ log: "bombed" }, { metadata: Metadata(auth) });
  assert.equal(info.recordCount, 1n);
  await stillServing();
});
