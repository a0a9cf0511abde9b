/**
 * Every reason of ERROR_REASONS is produced by a real request and arrives over the wire as a
 * google.rpc.ErrorInfo (domain dlog.v1) in grpc-status-details-bin, decoded here with
 * nice-grpc-error-details' own client middleware (not the dlog client's), with its metadata.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Channel, Metadata, Status, createChannel, createClientFactory } from "nice-grpc";
import { ErrorInfo, RichClientError, errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { ERROR_REASONS, type ErrorReason } from "../../src/errors.js";
import type { DeepPartial } from "../../src/gen/dlog/v1/common.js";
import { type AppendRequest, type AppendResponse, LogServiceDefinition, type LogServiceClient } from "../../src/gen/dlog/v1/log.js";
import { ReaderServiceDefinition, type ReaderServiceClient, type SessionRequest, type SessionResponse, Takeover } from "../../src/gen/dlog/v1/reader.js";
import { HealthDefinition, type HealthClient } from "../../src/gen/grpc/health/v1/health.js";
import { type Dlogd, bytes, startDlogd, tempDir } from "../helpers/dlogd.js";
import { MessageQueue } from "../../clients/typescript/src/message-queue.js";

const CALL = { timeout: 30_000 };
const FRAME_TIMEOUT_MS = 5_000;
const TOKEN = "reason-test-token";

/** Only storage faults or bugs raise these; test/unit/status.test.ts covers their mapping. */
const FAULT_REASONS: readonly ErrorReason[] = ["DISK_FULL", "STORAGE_UNAVAILABLE", "INTERNAL"];

/** Produced by behaviour other work is still building; listed so that the coverage check below stays honest. */
const NOT_YET_PRODUCED: readonly ErrorReason[] = [];

interface Clients {
  channel: Channel;
  logs: LogServiceClient;
  readers: ReaderServiceClient;
  health: HealthClient;
}

function connectRich(address: string, token?: string): Clients {
  const channel = createChannel(address);
  const factory = createClientFactory()
    .use(errorDetailsClientMiddleware)
    .use(async function* bearer(call, options) {
      if (token === undefined) return yield* call.next(call.request, options);
      return yield* call.next(call.request, { ...options, metadata: Metadata(options.metadata).set("authorization", `Bearer ${token}`) });
    });
  return {
    channel,
    logs: factory.create(LogServiceDefinition, channel),
    readers: factory.create(ReaderServiceDefinition, channel),
    health: factory.create(HealthDefinition, channel),
  };
}

interface Refusal {
  code: Status;
  details: string;
  info: ErrorInfo;
}

/** Awaits the call (or drains the stream) and returns its refusal with the decoded ErrorInfo. */
async function refusal(call: Promise<unknown> | AsyncIterable<unknown>): Promise<Refusal> {
  try {
    if (Symbol.asyncIterator in call) for await (const _ of call);
    else await call;
  } catch (error) {
    assert.ok(error instanceof RichClientError, `expected a status with details, got ${String(error)}`);
    const infos = error.extra.filter((detail): detail is ErrorInfo => detail.$type === ErrorInfo.$type);
    assert.equal(infos.length, 1, `one ErrorInfo in ${JSON.stringify(error.extra)}`);
    return { code: error.code, details: error.details, info: infos[0]! };
  }
  assert.fail("expected the call to be refused");
}

/** A session stream driven by hand: `send` messages, `next` frames. */
function openStream(readers: ReaderServiceClient): {
  send(message: DeepPartial<SessionRequest>): void;
  next(): Promise<SessionResponse>;
  refused(): Promise<Refusal>;
  end(): void;
} {
  const requests = new MessageQueue<DeepPartial<SessionRequest>>();
  const responses = readers.session(requests)[Symbol.asyncIterator]();
  return {
    send: (message) => requests.push(message),
    async next() {
      const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no frame in time")), FRAME_TIMEOUT_MS).unref());
      const frame = await Promise.race([responses.next(), timer]);
      assert.ok(!frame.done, "the stream ended");
      return frame.value;
    },
    refused: () => refusal({ [Symbol.asyncIterator]: () => responses }),
    end: () => requests.end(),
  };
}

async function openSession(readers: ReaderServiceClient, log: string, readerId: string, takeover = Takeover.TAKEOVER_FENCE) {
  const stream = openStream(readers);
  stream.send({ kind: { $case: "open", value: { log, readerId, takeover } } });
  const first = await stream.next();
  assert.equal(first.kind?.$case, "opened");
  return stream;
}

interface Case {
  reason: ErrorReason;
  code: Status;
  /** Every key must be present with this value (other keys may be there too). */
  metadata: Record<string, string>;
  act: (clients: Clients) => Promise<Refusal>;
}

const produced = new Set<ErrorReason>();

function runCases(cases: Case[], clients: () => Clients): void {
  for (const c of cases) {
    test(`${c.reason}: ${Status[c.code]} with metadata ${JSON.stringify(c.metadata)}`, CALL, async () => {
      const { code, details, info } = await c.act(clients());

      assert.equal(Status[code], Status[c.code], details);
      assert.equal(info.reason, c.reason, details);
      assert.equal(info.domain, "dlog.v1");
      for (const [key, value] of Object.entries(c.metadata)) assert.equal(info.metadata[key], value, `metadata ${key} in ${JSON.stringify(info.metadata)}`);
      for (const key of Object.keys(info.metadata)) assert.match(key, /^[a-z][a-z0-9_]*$/, "metadata keys are snake_case");
      produced.add(c.reason);
    });
  }
}

const appendOne = (log: string, txid?: bigint): DeepPartial<AppendRequest> => ({ log, records: [{ payload: bytes("x"), txid }] });

describe("each error reason is produced and arrives as ErrorInfo (domain dlog.v1)", () => {
  const dir = tempDir();
  let server: Dlogd;
  let clients: Clients;
  before(async () => {
    server = await startDlogd({ dataDir: dir.path, args: ["--max-records-per-append", "2", "--max-record-bytes", "16", "--producer-window", "2"] });
    clients = connectRich(server.address);
    await clients.logs.append(appendOne("orders", 100n));
  });
  after(async () => {
    clients?.channel.close();
    await server?.stop();
    dir.cleanup();
  });

  runCases(
    [
      {
        reason: "INVALID_REQUEST",
        code: Status.INVALID_ARGUMENT,
        metadata: { field: "position" },
        act: ({ readers }) => refusal(readers.setPosition({ log: "orders", readerId: "r" })),
      },
      {
        reason: "INVALID_NAME",
        code: Status.INVALID_ARGUMENT,
        metadata: { field: "log", value: "bad name" },
        act: ({ logs }) => refusal(logs.append(appendOne("bad name"))),
      },
      {
        reason: "INVALID_NAME",
        code: Status.INVALID_ARGUMENT,
        metadata: { field: "reader_id", value: "a/b" },
        act: ({ readers }) => refusal(readers.getPosition({ log: "orders", readerId: "a/b" })),
      },
      {
        reason: "INVALID_DLSN",
        code: Status.INVALID_ARGUMENT,
        metadata: { length: "3" },
        act: ({ logs }) => refusal(logs.read({ log: "orders", start: { at: { $case: "dlsnBytes", value: Buffer.from([1, 2, 3]) } } })),
      },
      {
        reason: "SESSION_PROTOCOL",
        code: Status.INVALID_ARGUMENT,
        metadata: { message: "ack" },
        act: async ({ readers }) => {
          const stream = openStream(readers);
          stream.send({ kind: { $case: "ack", value: { dlsns: [] } } });
          return stream.refused();
        },
      },
      {
        reason: "SESSION_PROTOCOL",
        code: Status.INVALID_ARGUMENT,
        metadata: { message: "open" },
        act: async ({ readers }) => {
          const stream = await openSession(readers, "orders", "twice");
          stream.send({ kind: { $case: "open", value: { log: "orders", readerId: "twice" } } });
          return stream.refused();
        },
      },
      {
        reason: "DLSN_NOT_DELIVERED",
        code: Status.INVALID_ARGUMENT,
        metadata: { dlsn: "9/9/9" },
        act: async ({ readers }) => {
          const stream = await openSession(readers, "orders", "acks-too-far");
          stream.send({ kind: { $case: "ack", value: { dlsns: [{ segment: 9n, entry: 9n, slot: 9n }] } } });
          return stream.refused();
        },
      },
      {
        reason: "LOG_NOT_FOUND",
        code: Status.NOT_FOUND,
        metadata: { log: "nowhere" },
        act: ({ logs }) => refusal(logs.getLog({ log: "nowhere" })),
      },
      {
        reason: "LOG_NOT_FOUND",
        code: Status.NOT_FOUND,
        metadata: { log: "nowhere" },
        act: ({ logs }) => refusal(logs.read({ log: "nowhere" })),
      },
      {
        reason: "LOG_EXISTS",
        code: Status.ALREADY_EXISTS,
        metadata: { log: "orders" },
        act: ({ logs }) => refusal(logs.createLog({ log: "orders" })),
      },
      {
        reason: "LOG_DELETED",
        code: Status.NOT_FOUND,
        metadata: { log: "doomed" },
        act: async ({ logs }) => {
          await logs.append(appendOne("doomed"));
          const follow = logs.read({ log: "doomed", follow: true })[Symbol.asyncIterator]();
          assert.equal((await follow.next()).done, false);
          const refused = refusal({ [Symbol.asyncIterator]: () => follow });
          await logs.deleteLog({ log: "doomed" });
          return refused;
        },
      },
      {
        reason: "READER_NOT_FOUND",
        code: Status.NOT_FOUND,
        metadata: { log: "orders", reader_id: "nobody" },
        act: ({ readers }) => refusal(readers.getPosition({ log: "orders", readerId: "nobody" })),
      },
      {
        reason: "READER_LIVE",
        code: Status.ALREADY_EXISTS,
        metadata: { log: "orders", reader_id: "busy" },
        act: async ({ readers }) => {
          const live = await openSession(readers, "orders", "busy");
          const second = openStream(readers);
          second.send({ kind: { $case: "open", value: { log: "orders", readerId: "busy", takeover: Takeover.TAKEOVER_REJECT } } });
          const refused = await second.refused();
          live.end();
          return refused;
        },
      },
      {
        reason: "READER_LIVE",
        code: Status.FAILED_PRECONDITION,
        metadata: { log: "orders", reader_id: "busy-admin" },
        act: async ({ readers }) => {
          const live = await openSession(readers, "orders", "busy-admin");
          const refused = await refusal(readers.deleteReader({ log: "orders", readerId: "busy-admin" }));
          live.end();
          return refused;
        },
      },
      {
        reason: "READER_FENCED",
        code: Status.ABORTED,
        metadata: { log: "orders", reader_id: "taken", epoch: "2" },
        act: async ({ readers }) => {
          const first = await openSession(readers, "orders", "taken");
          const second = await openSession(readers, "orders", "taken");
          const refused = await first.refused();
          second.end();
          return refused;
        },
      },
      {
        reason: "READER_REPOSITIONED",
        code: Status.ABORTED,
        metadata: { log: "orders", reader_id: "moved" },
        act: async ({ readers }) => {
          const live = await openSession(readers, "orders", "moved");
          await readers.setPosition({ log: "orders", readerId: "moved", force: true, position: { at: { $case: "txid", value: 0n } } });
          return live.refused();
        },
      },
      {
        reason: "READER_DELETED",
        code: Status.ABORTED,
        metadata: { log: "orders", reader_id: "removed" },
        act: async ({ readers }) => {
          const live = await openSession(readers, "orders", "removed");
          await readers.deleteReader({ log: "orders", readerId: "removed", force: true });
          return live.refused();
        },
      },
      {
        reason: "POSITION_OUT_OF_RANGE",
        code: Status.OUT_OF_RANGE,
        metadata: { log: "orders", field: "position", dlsn: "1/1000/0" },
        act: ({ readers }) =>
          refusal(readers.setPosition({ log: "orders", readerId: "far", position: { at: { $case: "dlsn", value: { segment: 1n, entry: 1000n, slot: 0n } } } })),
      },
      {
        reason: "TXID_OUT_OF_ORDER",
        code: Status.FAILED_PRECONDITION,
        metadata: { log: "orders", txid: "5", last_txid: "100" },
        act: ({ logs }) => refusal(logs.append(appendOne("orders", 5n))),
      },
      {
        reason: "POSITION_OUT_OF_RANGE",
        code: Status.OUT_OF_RANGE,
        metadata: { log: "orders", before: "99/0/0" },
        act: ({ logs }) => refusal(logs.truncate({ log: "orders", before: { segment: 99n, entry: 0n, slot: 0n } })),
      },
      {
        reason: "PRODUCER_SEQUENCE_GAP",
        code: Status.FAILED_PRECONDITION,
        metadata: { log: "orders", producer_id: "gap", producer_seq: "2", expected_seq: "1" },
        act: ({ logs }) => refusal(logs.append({ ...appendOne("orders"), producerId: "gap", producerSeq: 2n })),
      },
      {
        reason: "PRODUCER_SEQUENCE_REUSED",
        code: Status.FAILED_PRECONDITION,
        metadata: { log: "orders", producer_id: "reuse", producer_seq: "1" },
        act: async ({ logs }) => {
          await logs.append({ ...appendOne("orders"), producerId: "reuse", producerSeq: 1n });
          return refusal(logs.append({ log: "orders", records: [{ payload: bytes("other") }], producerId: "reuse", producerSeq: 1n }));
        },
      },
      {
        reason: "PRODUCER_SEQUENCE_TOO_OLD",
        code: Status.FAILED_PRECONDITION,
        metadata: { log: "orders", producer_id: "old", producer_seq: "1" },
        act: async ({ logs }) => {
          for (let seq = 1n; seq <= 3n; seq++) await logs.append({ ...appendOne("orders"), producerId: "old", producerSeq: seq });
          return refusal(logs.append({ ...appendOne("orders"), producerId: "old", producerSeq: 1n }));
        },
      },
      {
        reason: "LIMIT_EXCEEDED",
        code: Status.INVALID_ARGUMENT,
        metadata: { log: "orders", limit: "max_records_per_append", max: "2", value: "3" },
        act: ({ logs }) => refusal(logs.append({ log: "orders", records: [{}, {}, {}] })),
      },
      {
        reason: "LIMIT_EXCEEDED",
        code: Status.INVALID_ARGUMENT,
        metadata: { log: "orders", limit: "max_record_bytes", max: "16", value: "17" },
        act: ({ logs }) => refusal(logs.append({ log: "orders", records: [{ payload: Buffer.alloc(17) }] })),
      },
      {
        reason: "LIMIT_EXCEEDED",
        code: Status.INVALID_ARGUMENT,
        metadata: { limit: "max_batch_records", max: "10000", value: "10001" },
        act: ({ logs }) => refusal(logs.read({ log: "orders", maxBatchRecords: 10_001 })),
      },
      {
        reason: "LIMIT_EXCEEDED",
        code: Status.INVALID_ARGUMENT,
        metadata: { limit: "max_outstanding_records", max: "100000", value: "100001" },
        act: async ({ readers }) => {
          const stream = await openSession(readers, "orders", "greedy");
          stream.send({ kind: { $case: "flow", value: { maxOutstandingRecords: 100_001 } } });
          return stream.refused();
        },
      },
      {
        reason: "LIMIT_EXCEEDED",
        code: Status.INVALID_ARGUMENT,
        metadata: { limit: "ack_wait_ms" },
        act: async ({ readers }) => {
          const stream = openStream(readers);
          stream.send({ kind: { $case: "open", value: { log: "orders", readerId: "patient", ackWaitMs: 4_000_000_000 } } });
          return stream.refused();
        },
      },
      {
        reason: "SERVICE_NOT_FOUND",
        code: Status.NOT_FOUND,
        metadata: { service: "no.such.Service" },
        act: ({ health }) => refusal(health.check({ service: "no.such.Service" })),
      },
    ],
    () => clients,
  );

  test("AppendStream answers a failed append with the same reason and metadata, and goes on", CALL, async () => {
    const requests = new MessageQueue<DeepPartial<AppendRequest>>();
    const answers = clients.logs.appendStream(requests)[Symbol.asyncIterator]();
    requests.push({ ...appendOne("orders", 1n), requestId: 1n });
    requests.push({ ...appendOne("orders"), requestId: 2n });
    requests.end();

    const failed = (await answers.next()).value as AppendResponse;
    const written = (await answers.next()).value as AppendResponse;

    assert.equal(failed.error?.code, Status.FAILED_PRECONDITION);
    assert.equal(failed.error?.reason, "TXID_OUT_OF_ORDER");
    assert.deepEqual({ log: failed.error?.metadata.log, txid: failed.error?.metadata.txid }, { log: "orders", txid: "1" });
    assert.equal(written.error, undefined);
    assert.equal(written.dlsns.length, 1);
  });
});

describe("refusals raised outside the services carry ErrorInfo too (auth, shutdown)", () => {
  const dir = tempDir();
  let server: Dlogd;
  let clients: Clients;
  before(async () => {
    const tokens = join(dir.path, "tokens.json");
    writeFileSync(
      tokens,
      JSON.stringify({ tokens: [{ name: "orders-only", token: TOKEN, allow: { append: ["orders"], read: ["orders"], admin: ["orders"] } }] }),
    );
    server = await startDlogd({ dataDir: join(dir.path, "data"), args: ["--auth-tokens", tokens] });
    clients = connectRich(server.address, TOKEN);
    await clients.logs.append(appendOne("orders"));
  });
  after(async () => {
    clients?.channel.close();
    await server?.stop();
    dir.cleanup();
  });

  runCases(
    [
      {
        reason: "UNAUTHENTICATED",
        code: Status.UNAUTHENTICATED,
        metadata: {},
        act: async () => {
          const anonymous = connectRich(server.address);
          const refused = await refusal(anonymous.logs.getLog({ log: "orders" }));
          anonymous.channel.close();
          return refused;
        },
      },
      {
        reason: "PERMISSION_DENIED",
        code: Status.PERMISSION_DENIED,
        metadata: { log: "payments", action: "read" },
        act: ({ logs }) => refusal(logs.read({ log: "payments" })),
      },
      {
        reason: "PERMISSION_DENIED",
        code: Status.PERMISSION_DENIED,
        metadata: { log: "payments", action: "append" },
        act: async ({ logs }) => {
          // Checked message by message: the second request of the stream is refused mid-stream.
          const requests = new MessageQueue<DeepPartial<AppendRequest>>();
          const answers = logs.appendStream(requests)[Symbol.asyncIterator]();
          requests.push(appendOne("orders"));
          assert.equal((await answers.next()).value?.error, undefined);
          requests.push(appendOne("payments"));
          return refusal({ [Symbol.asyncIterator]: () => answers });
        },
      },
    ],
    () => clients,
  );

  test("SHUTTING_DOWN: a live session and an idle AppendStream end with UNAVAILABLE, reason SHUTTING_DOWN", CALL, async () => {
    const session = await openSession(clients.readers, "orders", "until-shutdown");
    const requests = new MessageQueue<DeepPartial<AppendRequest>>();
    const answers = clients.logs.appendStream(requests)[Symbol.asyncIterator]();
    requests.push(appendOne("orders"));
    assert.equal((await answers.next()).value?.error, undefined);

    const sessionEnd = session.refused();
    const streamEnd = refusal({ [Symbol.asyncIterator]: () => answers });
    await server.stop();

    for (const { code, info } of [await sessionEnd, await streamEnd]) {
      assert.equal(Status[code], "UNAVAILABLE");
      assert.equal(info.reason, "SHUTTING_DOWN");
      assert.equal(info.domain, "dlog.v1");
    }
    produced.add("SHUTTING_DOWN");
  });
});

test("every reason is produced over the wire, by a fault at the status-mapping level, or listed as not yet produced", () => {
  const accounted = new Set<string>([...produced, ...FAULT_REASONS, ...NOT_YET_PRODUCED]);
  const missing = ERROR_REASONS.filter((reason) => !accounted.has(reason));
  assert.deepEqual(missing, []);
});
