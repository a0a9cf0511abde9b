/**
 * Hostile requests over every RPC (issue 8, "tests that keep it fixed"): each case has its
 * expected status; after all of them the server is alive and the log and the reader position
 * are exactly as before. HOSTILE_CASES is exported so a reliability report can count them.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ClientError, Status } from "nice-grpc";
import { Boundary } from "../../src/gen/dlog/v1/common.js";
import type { DeepPartial, SessionRequest } from "../../src/gen/dlog/v1/reader.js";
import { MessageQueue } from "../../clients/typescript/src/message-queue.js";
import { type Clients, type Dlogd, bytes, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { type RawFrame, gzipFrame, rawCall } from "../helpers/raw-grpc.js";

const LOG = "h";
const READER = "hr";
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

let server: Dlogd;
let clients: Clients;
let cleanup: () => void;

export interface HostileCase {
  name: string;
  expected: Status;
  run(): Promise<{ code: Status; details: string }>;
}

async function statusOf(call: Promise<unknown>): Promise<{ code: Status; details: string }> {
  try {
    await call;
    return { code: Status.OK, details: "" };
  } catch (error) {
    if (error instanceof ClientError) return { code: error.code, details: error.details };
    throw error;
  }
}

const drainStream = async (stream: AsyncIterable<unknown>): Promise<void> => {
  for await (const item of stream) void item;
};

/** A session fed `messages` (then half-closed); the status it ends with. */
function session(messages: Array<DeepPartial<SessionRequest>>, keepOpen = false): Promise<{ code: Status; details: string }> {
  const requests = new MessageQueue<DeepPartial<SessionRequest>>();
  for (const m of messages) requests.push(m);
  if (!keepOpen) requests.end();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 3_000);
  return statusOf(drainStream(clients.readers.session(requests, { signal: abort.signal }))).finally(() => clearTimeout(timer));
}

const open = (fields: Record<string, unknown> = {}): DeepPartial<SessionRequest> =>
  ({ kind: { $case: "open", value: { log: LOG, readerId: "hostile", ...fields } } }) as DeepPartial<SessionRequest>;
const ack = (dlsns: Array<[bigint, bigint, bigint]>): DeepPartial<SessionRequest> => ({
  kind: { $case: "ack", value: { dlsns: dlsns.map(([segment, entry, slot]) => ({ segment, entry, slot })) } },
});

const UNARY_PATHS = [
  "/dlog.v1.LogService/CreateLog",
  "/dlog.v1.LogService/DeleteLog",
  "/dlog.v1.LogService/ListLogs",
  "/dlog.v1.LogService/GetLog",
  "/dlog.v1.LogService/Append",
  "/dlog.v1.LogService/Read",
  "/dlog.v1.LogService/Truncate",
  "/dlog.v1.ReaderService/GetPosition",
  "/dlog.v1.ReaderService/SetPosition",
  "/dlog.v1.ReaderService/ListReaders",
  "/dlog.v1.ReaderService/DeleteReader",
];
const STREAM_PATHS = ["/dlog.v1.LogService/AppendStream", "/dlog.v1.ReaderService/Session"];

const raw =
  (path: string, frames: RawFrame[], headers: Record<string, string> = {}) =>
  async (): Promise<{ code: Status; details: string }> => {
    const result = await rawCall(server.address, path, frames, { headers });
    return { code: result.code as Status, details: result.message };
  };
const { OK, INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, ALREADY_EXISTS, FAILED_PRECONDITION, OUT_OF_RANGE } = Status;

const BAD_NAMES = ["", "a/b", "x".repeat(201), "sp ace", "ünï", "../etc", "a\u0000b"];
const position = (dlsn: [bigint, bigint, bigint]) => ({ at: { $case: "dlsn" as const, value: { segment: dlsn[0], entry: dlsn[1], slot: dlsn[2] } } });

export const HOSTILE_CASES: HostileCase[] = [
  // Raw HTTP/2: bytes that are not the method's message, on every RPC.
  ...[...UNARY_PATHS, ...STREAM_PATHS].flatMap((path): HostileCase[] => [
    { name: `${path}: 0xff 0xff 0xff`, expected: INVALID_ARGUMENT, run: raw(path, [{ bytes: Buffer.from([0xff, 0xff, 0xff]) }]) },
    { name: `${path}: a length past the end`, expected: INVALID_ARGUMENT, run: raw(path, [{ bytes: Buffer.from([0x0a, 0x05, 0x61]) }]) },
    { name: `${path}: wire type 7`, expected: INVALID_ARGUMENT, run: raw(path, [{ bytes: Buffer.from([0x0f, 0x01]) }]) },
    { name: `${path}: compressed flag without grpc-encoding`, expected: INVALID_ARGUMENT, run: raw(path, [{ ...gzipFrame(Buffer.from([0x0a, 0x01, 0x68])) }]) },
    { name: `${path}: 5 MiB message`, expected: RESOURCE_EXHAUSTED, run: raw(path, [{ bytes: Buffer.alloc(5 * 1024 * 1024) }]) },
  ]),
  // Raw HTTP/2: a unary call without its message, or with two.
  ...UNARY_PATHS.flatMap((path): HostileCase[] => [
    { name: `${path}: no request message`, expected: INVALID_ARGUMENT, run: raw(path, []) },
    { name: `${path}: two request messages`, expected: INVALID_ARGUMENT, run: raw(path, [{ bytes: Buffer.alloc(0) }, { bytes: Buffer.alloc(0) }]) },
  ]),
  // Invalid UTF-8 in a name.
  ...["/dlog.v1.LogService/CreateLog", "/dlog.v1.LogService/Append", "/dlog.v1.LogService/GetLog"].map(
    (path): HostileCase => ({
      name: `${path}: invalid UTF-8 log name`,
      expected: INVALID_ARGUMENT,
      run: raw(path, [{ bytes: Buffer.from([0x0a, 0x02, 0xff, 0xfe]) }]),
    }),
  ),
  // Names that break the rules, on every RPC that takes one.
  ...BAD_NAMES.flatMap((bad): HostileCase[] => [
    { name: `CreateLog ${JSON.stringify(bad)}`, expected: INVALID_ARGUMENT, run: () => statusOf(clients.logs.createLog({ log: bad })) },
    {
      name: `Append ${JSON.stringify(bad)}`,
      expected: INVALID_ARGUMENT,
      run: () => statusOf(clients.logs.append({ log: bad, records: [{ payload: bytes("x") }] })),
    },
    { name: `GetLog ${JSON.stringify(bad)}`, expected: INVALID_ARGUMENT, run: () => statusOf(clients.logs.getLog({ log: bad })) },
    { name: `DeleteLog ${JSON.stringify(bad)}`, expected: INVALID_ARGUMENT, run: () => statusOf(clients.logs.deleteLog({ log: bad })) },
    {
      name: `GetPosition reader ${JSON.stringify(bad)}`,
      expected: INVALID_ARGUMENT,
      run: () => statusOf(clients.readers.getPosition({ log: LOG, readerId: bad })),
    },
    {
      name: `DeleteReader reader ${JSON.stringify(bad)}`,
      expected: INVALID_ARGUMENT,
      run: () => statusOf(clients.readers.deleteReader({ log: LOG, readerId: bad })),
    },
    {
      name: `Session open log ${JSON.stringify(bad)}`,
      expected: INVALID_ARGUMENT,
      run: () => session([{ kind: { $case: "open", value: { log: bad, readerId: "r" } } }]),
    },
    { name: `Session open reader ${JSON.stringify(bad)}`, expected: INVALID_ARGUMENT, run: () => session([open({ readerId: bad })]) },
  ]),
  // Appends.
  { name: "Append with no records", expected: INVALID_ARGUMENT, run: () => statusOf(clients.logs.append({ log: LOG, records: [] })) },
  {
    name: "Append a 2 MiB record",
    expected: INVALID_ARGUMENT,
    run: () => statusOf(clients.logs.append({ log: LOG, records: [{ payload: Buffer.alloc(2 * 1024 * 1024) }] })),
  },
  {
    name: "Append 10001 records",
    expected: INVALID_ARGUMENT,
    run: () => statusOf(clients.logs.append({ log: LOG, records: Array.from({ length: 10_001 }, () => ({ payload: bytes("") })) })),
  },
  {
    name: "Append a txid below the log's last",
    expected: FAILED_PRECONDITION,
    run: () => statusOf(clients.logs.append({ log: LOG, records: [{ payload: bytes("x"), txid: 1n }] })),
  },
  {
    name: "Append one good and one oversized record: nothing written",
    expected: INVALID_ARGUMENT,
    run: () => statusOf(clients.logs.append({ log: LOG, records: [{ payload: bytes("ok") }, { payload: Buffer.alloc(1024 * 1024 + 1) }] })),
  },
  { name: "CreateLog of an existing log", expected: ALREADY_EXISTS, run: () => statusOf(clients.logs.createLog({ log: LOG })) },
  { name: "DeleteLog of a missing log", expected: NOT_FOUND, run: () => statusOf(clients.logs.deleteLog({ log: "no-such-log" })) },
  { name: "GetLog of a missing log", expected: NOT_FOUND, run: () => statusOf(clients.logs.getLog({ log: "no-such-log" })) },
  // Reads.
  { name: "Read a missing log", expected: NOT_FOUND, run: () => statusOf(drainStream(clients.logs.read({ log: "no-such-log" }))) },
  {
    name: "Read with 20000 records per batch",
    expected: INVALID_ARGUMENT,
    run: () => statusOf(drainStream(clients.logs.read({ log: LOG, maxBatchRecords: 20_000 }))),
  },
  { name: "Read max_records -1", expected: INVALID_ARGUMENT, run: () => statusOf(drainStream(clients.logs.read({ log: LOG, maxRecords: -1n }))) },
  {
    name: "Read from 24 dlsn_bytes",
    expected: INVALID_ARGUMENT,
    run: () => statusOf(drainStream(clients.logs.read({ log: LOG, start: { at: { $case: "dlsnBytes", value: Buffer.alloc(24) } } }))),
  },
  {
    name: "Read from version-2 dlsn_bytes",
    expected: INVALID_ARGUMENT,
    run: () => statusOf(drainStream(clients.logs.read({ log: LOG, start: { at: { $case: "dlsnBytes", value: Buffer.alloc(25, 2) } } }))),
  },
  {
    name: "Read from INT64_MAX/INT64_MAX/INT64_MAX ends with nothing",
    expected: OK,
    run: () => statusOf(drainStream(clients.logs.read({ log: LOG, start: position([INT64_MAX, INT64_MAX, INT64_MAX]) }))),
  },
  {
    name: "Read from INT64_MIN/INT64_MIN/INT64_MIN",
    expected: OK,
    run: () => statusOf(drainStream(clients.logs.read({ log: LOG, start: position([INT64_MIN, INT64_MIN, INT64_MIN]), maxRecords: 1n }))),
  },
  // Truncate.
  { name: "Truncate without before", expected: INVALID_ARGUMENT, run: () => statusOf(clients.logs.truncate({ log: LOG })) },
  {
    name: "Truncate before INT64_MAX without force",
    expected: OUT_OF_RANGE,
    run: () => statusOf(clients.logs.truncate({ log: LOG, before: { segment: INT64_MAX, entry: 0n, slot: 0n } })),
  },
  {
    name: "Truncate a missing log",
    expected: NOT_FOUND,
    run: () => statusOf(clients.logs.truncate({ log: "no-such-log", before: { segment: 1n, entry: 0n, slot: 0n } })),
  },
  // Listing.
  { name: "ListLogs page_size 20000", expected: INVALID_ARGUMENT, run: () => statusOf(clients.logs.listLogs({ pageSize: 20_000 })) },
  { name: "ListLogs page_token not ours", expected: INVALID_ARGUMENT, run: () => statusOf(clients.logs.listLogs({ pageToken: "not a token!" })) },
  { name: "ListReaders page_size 20000", expected: INVALID_ARGUMENT, run: () => statusOf(clients.readers.listReaders({ log: LOG, pageSize: 20_000 })) },
  { name: "ListReaders page_token not ours", expected: INVALID_ARGUMENT, run: () => statusOf(clients.readers.listReaders({ log: LOG, pageToken: "%%%" })) },
  { name: "ListReaders of a missing log", expected: NOT_FOUND, run: () => statusOf(clients.readers.listReaders({ log: "no-such-log" })) },
  // Reader admin.
  { name: "GetPosition of an unknown reader", expected: NOT_FOUND, run: () => statusOf(clients.readers.getPosition({ log: LOG, readerId: "nobody" })) },
  { name: "SetPosition without a position", expected: INVALID_ARGUMENT, run: () => statusOf(clients.readers.setPosition({ log: LOG, readerId: READER })) },
  {
    name: "SetPosition with an unspecified boundary",
    expected: INVALID_ARGUMENT,
    run: () =>
      statusOf(clients.readers.setPosition({ log: LOG, readerId: READER, position: { at: { $case: "boundary", value: Boundary.BOUNDARY_UNSPECIFIED } } })),
  },
  { name: "DeleteReader of an unknown reader", expected: NOT_FOUND, run: () => statusOf(clients.readers.deleteReader({ log: LOG, readerId: "nobody" })) },
  // Sessions: protocol order.
  { name: "Session: no message at all", expected: INVALID_ARGUMENT, run: () => session([]) },
  { name: "Session: ack first", expected: INVALID_ARGUMENT, run: () => session([ack([[1n, 0n, 0n]])]) },
  { name: "Session: flow first", expected: INVALID_ARGUMENT, run: () => session([{ kind: { $case: "flow", value: { maxOutstandingRecords: 1 } } }]) },
  { name: "Session: drain first", expected: INVALID_ARGUMENT, run: () => session([{ kind: { $case: "drain", value: {} } }]) },
  { name: "Session: an empty message first", expected: INVALID_ARGUMENT, run: () => session([{}]) },
  { name: "Session: open twice", expected: INVALID_ARGUMENT, run: () => session([open({ readerId: "twice" }), open({ readerId: "twice" })], true) },
  { name: "Session: an empty message after open", expected: INVALID_ARGUMENT, run: () => session([open({ readerId: "empty" }), {}], true) },
  { name: "Session: open a missing log", expected: NOT_FOUND, run: () => session([{ kind: { $case: "open", value: { log: "no-such-log", readerId: "r" } } }]) },
  // Sessions: bad opens.
  { name: "Session: CLIENT policy without checkpoint", expected: INVALID_ARGUMENT, run: () => session([open({ readerId: "c1", resumePolicy: 2 })]) },
  { name: "Session: resume policy 99", expected: INVALID_ARGUMENT, run: () => session([open({ readerId: "c2", resumePolicy: 99 })]) },
  { name: "Session: takeover 99", expected: INVALID_ARGUMENT, run: () => session([open({ readerId: "c3", takeover: 99 })]) },
  { name: "Session: ack_wait_ms 2^32-1", expected: INVALID_ARGUMENT, run: () => session([open({ readerId: "c4", ackWaitMs: 4_294_967_295 })]) },
  {
    name: "Session: flow max_outstanding_records 2^31",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "c5", flow: { maxOutstandingRecords: 2 ** 31 } })]),
  },
  {
    name: "Session: fallback with 24 dlsn_bytes",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "c6", fallback: { at: { $case: "dlsnBytes", value: Buffer.alloc(24) } } })]),
  },
  { name: "Session: takeover REJECT of the live reader", expected: ALREADY_EXISTS, run: () => session([open({ readerId: READER, takeover: 2 })]) },
  // Sessions: acks of what was never delivered.
  {
    name: "Session: ack another log's DLSN 1/999/0",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "a1", flow: { maxOutstandingRecords: 1 } }), ack([[1n, 999n, 0n]])], true),
  },
  { name: "Session: ack -1/-1/-1", expected: INVALID_ARGUMENT, run: () => session([open({ readerId: "a2" }), ack([[-1n, -1n, -1n]])], true) },
  {
    name: "Session: ack INT64_MAX fields",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "a3" }), ack([[INT64_MAX, INT64_MAX, INT64_MAX]])], true),
  },
  {
    name: "Session: ack INT64_MIN fields",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "a4" }), ack([[INT64_MIN, INT64_MIN, INT64_MIN]])], true),
  },
  {
    name: "Session: cumulative ack up to 9/0/0",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "a5" }), { kind: { $case: "ack", value: { upTo: { segment: 9n, entry: 0n, slot: 0n } } } }], true),
  },
  {
    name: "Session: nack never delivered",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "a6" }), { kind: { $case: "nack", value: { dlsns: [{ segment: 1n, entry: 999n, slot: 0n }] } } }], true),
  },
  {
    name: "Session: an ack with an unset DLSN",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "a7" }), { kind: { $case: "ack", value: { dlsns: [{}] } } }], true),
  },
  {
    name: "Session: flow 0/0/0 keeps the limits, then drain ends OK",
    expected: OK,
    run: () => session([open({ readerId: "a8" }), { kind: { $case: "flow", value: {} } }, { kind: { $case: "drain", value: {} } }]),
  },
  {
    name: "Session: open, drain, then an ack of an undelivered DLSN",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "a9" }), { kind: { $case: "drain", value: {} } }, ack([[1n, 0n, 0n]])]),
  },
  {
    name: "Session: 100001 DLSNs in one ack",
    expected: INVALID_ARGUMENT,
    run: () => session([open({ readerId: "a10" }), ack(Array.from({ length: 100_001 }, () => [1n, 0n, 0n] as [bigint, bigint, bigint]))], true),
  },
];

before(async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  server = await startDlogd({ dataDir: dir.path });
  clients = connect(server.address);
  await clients.logs.append({ log: LOG, records: [1, 2, 3].map((n) => ({ payload: bytes(String(n)), txid: BigInt(100 + n) })) });
  await clients.readers.setPosition({ log: LOG, readerId: READER, position: { at: { $case: "boundary", value: Boundary.BOUNDARY_EARLIEST } } });
});

after(async () => {
  clients.close();
  await server.stop();
  cleanup();
});

test(`${HOSTILE_CASES.length} hostile requests: each gets its status, the server stays up, the log and positions are unchanged`, {
  timeout: 300_000,
}, async () => {
  assert.ok(HOSTILE_CASES.length >= 150, `${HOSTILE_CASES.length} cases`);
  // A live reader, so takeover cases have something to refuse against.
  const liveRequests = new MessageQueue<DeepPartial<SessionRequest>>();
  liveRequests.push(open({ readerId: READER }));
  const live = clients.readers.session(liveRequests)[Symbol.asyncIterator]();
  await live.next();
  const logBefore = await clients.logs.getLog({ log: LOG });
  const positionBefore = await clients.readers.getPosition({ log: LOG, readerId: READER });
  const wrong: string[] = [];
  for (const hostile of HOSTILE_CASES) {
    const { code, details } = await hostile.run();
    if (code !== hostile.expected) wrong.push(`${hostile.name}: expected ${Status[hostile.expected]}, got ${Status[code] ?? code} (${details})`);
    if (code === Status.UNKNOWN || code === Status.INTERNAL) wrong.push(`${hostile.name}: ${Status[code]} is never deliberate`);
  }
  assert.equal((await clients.health.check({ service: "" })).status, 1, "the server still serves");
  const logAfter = await clients.logs.getLog({ log: LOG });
  assert.equal(logAfter.recordCount, logBefore.recordCount, "no record was added or removed");
  assert.deepEqual(logAfter.lastDlsn, logBefore.lastDlsn);
  assert.equal(logAfter.lastTxid, logBefore.lastTxid);
  const positionAfter = await clients.readers.getPosition({ log: LOG, readerId: READER });
  assert.deepEqual(positionAfter.floor, positionBefore.floor, "the reader's position did not move");
  assert.equal(positionAfter.live, true, "the live session was not fenced");
  liveRequests.end();
  assert.deepEqual(wrong, [], `${wrong.length} of ${HOSTILE_CASES.length} cases misbehaved:\n${wrong.join("\n")}`);
});
