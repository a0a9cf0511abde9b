/**
 * The authorization matrix over real metadata (issue 8, item 6): no token, a wrong token,
 * another log, each action without its right, and reader control with `read` only.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ClientError, Metadata, Status } from "nice-grpc";
import { Boundary } from "../../src/gen/dlog/v1/common.js";
import { type DeepPartial, type Open, ResumePolicy, type SessionRequest } from "../../src/gen/dlog/v1/reader.js";
import { type Clients, type Dlogd, bytes, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { MessageQueue } from "../../clients/typescript/src/message-queue.js";

const TOKENS = {
  writer: "writer-token-0000001", // append + read on orders-*
  reader: "reader-token-0000001", // read on everything, no readers listed
  etl: "etl-token-000000001", // read on everything, readers etl-*
  seeker: "seeker-token-0000001", // read on everything, seek on orders-*
  admin: "admin-token-00000001", // everything
} as const;
type Who = keyof typeof TOKENS | "none" | "wrong";

let server: Dlogd;
let clients: Clients;
let cleanup: () => void;

before(async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  const file = join(dir.path, "tokens.json");
  writeFileSync(
    file,
    JSON.stringify({
      tokens: [
        { name: "writer", token: TOKENS.writer, allow: { append: ["orders-*"], read: ["orders-*"] } },
        { name: "reader", token: TOKENS.reader, allow: { read: ["*"] } },
        { name: "etl", token: TOKENS.etl, allow: { read: ["*"] }, readers: ["etl-*"] },
        { name: "seeker", token: TOKENS.seeker, allow: { read: ["*"], seek: ["orders-*"] } },
        { name: "admin", token: TOKENS.admin, allow: { append: ["*"], read: ["*"], admin: ["*"] } },
      ],
    }),
  );
  server = await startDlogd({ dataDir: join(dir.path, "data"), args: ["--auth-tokens", file] });
  clients = connect(server.address);
  const admin = as("admin");
  for (const log of ["orders-1", "payroll"]) {
    await clients.logs.append({ log, records: [1, 2, 3].map((n) => ({ payload: bytes(String(n)) })) }, admin);
  }
});

after(async () => {
  clients.close();
  await server.stop();
  cleanup();
});

function as(who: Who): { metadata: Metadata } {
  if (who === "none") return { metadata: Metadata() };
  return { metadata: Metadata({ authorization: `Bearer ${who === "wrong" ? "not-a-known-token-000" : TOKENS[who]}` }) };
}

async function codeOf(call: Promise<unknown>): Promise<Status> {
  try {
    await call;
    return Status.OK;
  } catch (error) {
    assert.ok(error instanceof ClientError, `a gRPC status, got ${String(error)}`);
    return error.code;
  }
}

/** A session that stays open until `end()`; `first` is the status of its first frame (OK = opened). */
function openSession(who: Who, open: DeepPartial<Open>): { first: Promise<Status>; end(): void } {
  const requests = new MessageQueue<DeepPartial<SessionRequest>>();
  requests.push({ kind: { $case: "open", value: open } });
  const abort = new AbortController();
  const iterator = clients.readers.session(requests, { ...as(who), signal: abort.signal })[Symbol.asyncIterator]();
  const first = codeOf(iterator.next());
  return {
    first,
    end: () => {
      requests.end();
      abort.abort();
    },
  };
}

async function sessionCode(who: Who, open: DeepPartial<Open>): Promise<Status> {
  const session = openSession(who, open);
  const code = await session.first;
  session.end();
  return code;
}

const earliest = { at: { $case: "boundary" as const, value: Boundary.BOUNDARY_EARLIEST } };
const checkpoint = { segment: 1n, entry: 0n, slot: 0n };

type Action = (who: Who) => Promise<Status>;
const ACTIONS: Record<string, Action> = {
  append: (who) => codeOf(clients.logs.append({ log: "orders-1", records: [{ payload: bytes("x") }] }, as(who))),
  "append other log": (who) => codeOf(clients.logs.append({ log: "payroll", records: [{ payload: bytes("x") }] }, as(who))),
  read: (who) =>
    codeOf(
      (async () => {
        for await (const batch of clients.logs.read({ log: "orders-1", maxRecords: 1n }, as(who))) void batch;
      })(),
    ),
  getLog: (who) => codeOf(clients.logs.getLog({ log: "orders-1" }, as(who))),
  listLogs: (who) => codeOf(clients.logs.listLogs({}, as(who))),
  createLog: (who) => codeOf(clients.logs.createLog({ log: "orders-new" }, as(who))),
  truncate: (who) => codeOf(clients.logs.truncate({ log: "orders-1", before: { segment: 1n, entry: 0n, slot: 0n } }, as(who))),
  deleteLog: (who) => codeOf(clients.logs.deleteLog({ log: "orders-gone" }, as(who))),
  session: (who) => sessionCode(who, { log: "orders-1", readerId: `etl-plain-${who}` }),
  "session, reader outside etl-*": (who) => sessionCode(who, { log: "orders-1", readerId: `billing-2-${who}` }),
  "session override": (who) => sessionCode(who, { log: "orders-1", readerId: `etl-override-${who}`, override: earliest }),
  "session client checkpoint, CLIENT": (who) =>
    sessionCode(who, { log: "orders-1", readerId: `etl-client-${who}`, clientCheckpoint: checkpoint, resumePolicy: ResumePolicy.RESUME_POLICY_CLIENT }),
  "session client checkpoint, MAX": (who) =>
    sessionCode(who, { log: "orders-1", readerId: `etl-max-${who}`, clientCheckpoint: checkpoint, resumePolicy: ResumePolicy.RESUME_POLICY_MAX }),
  "session client checkpoint, STORED": (who) =>
    sessionCode(who, { log: "orders-1", readerId: `etl-stored-${who}`, clientCheckpoint: checkpoint, resumePolicy: ResumePolicy.RESUME_POLICY_STORED }),
  getPosition: (who) => codeOf(clients.readers.getPosition({ log: "orders-1", readerId: `etl-plain-${who}` }, as(who))),
  listReaders: (who) => codeOf(clients.readers.listReaders({ log: "orders-1" }, as(who))),
  setPosition: (who) => codeOf(clients.readers.setPosition({ log: "orders-1", readerId: "etl-set", position: earliest }, as(who))),
  deleteReader: (who) => codeOf(clients.readers.deleteReader({ log: "orders-1", readerId: "etl-nobody" }, as(who))),
};

const { OK, UNAUTHENTICATED: UNAUTH, PERMISSION_DENIED: DENIED, NOT_FOUND } = Status;
/** Expected status per action and caller. NOT_FOUND: allowed, and the target does not exist. */
const MATRIX: Record<string, Partial<Record<Who, Status>>> = {
  append: { none: UNAUTH, wrong: UNAUTH, writer: OK, reader: DENIED, etl: DENIED, seeker: DENIED, admin: OK },
  "append other log": { writer: DENIED, reader: DENIED, admin: OK },
  read: { none: UNAUTH, wrong: UNAUTH, writer: OK, reader: OK, etl: OK, seeker: OK, admin: OK },
  getLog: { none: UNAUTH, writer: OK, reader: OK, admin: OK },
  listLogs: { none: UNAUTH, wrong: UNAUTH, writer: OK, reader: OK },
  createLog: { none: UNAUTH, writer: DENIED, reader: DENIED, seeker: DENIED, admin: OK },
  truncate: { writer: DENIED, reader: DENIED, seeker: DENIED, admin: OK },
  deleteLog: { writer: DENIED, reader: DENIED, seeker: DENIED, admin: NOT_FOUND },
  session: { none: UNAUTH, wrong: UNAUTH, writer: OK, reader: OK, etl: OK, seeker: OK, admin: OK },
  "session, reader outside etl-*": { reader: OK, etl: DENIED, admin: OK },
  "session override": { writer: DENIED, reader: DENIED, etl: DENIED, seeker: OK, admin: OK },
  "session client checkpoint, CLIENT": { reader: DENIED, etl: DENIED, seeker: OK, admin: OK },
  "session client checkpoint, MAX": { reader: DENIED, seeker: OK },
  "session client checkpoint, STORED": { reader: OK, etl: OK },
  getPosition: { none: UNAUTH, reader: OK, writer: OK },
  listReaders: { none: UNAUTH, reader: OK, writer: OK },
  setPosition: { none: UNAUTH, writer: DENIED, reader: DENIED, etl: DENIED, seeker: OK, admin: OK },
  deleteReader: { writer: DENIED, reader: DENIED, etl: DENIED, seeker: NOT_FOUND, admin: NOT_FOUND },
};

test("authorization matrix: every action by every kind of caller gets exactly its status", { timeout: 120_000 }, async () => {
  const wrong: string[] = [];
  let cases = 0;
  for (const [action, row] of Object.entries(MATRIX)) {
    for (const [who, expected] of Object.entries(row) as Array<[Who, Status]>) {
      const got = await ACTIONS[action]!(who);
      cases++;
      if (got !== expected) wrong.push(`${action} as ${who}: expected ${Status[expected]}, got ${Status[got]}`);
    }
  }
  assert.deepEqual(wrong, [], `${wrong.length} of ${cases} cases wrong`);
});

test("ListLogs shows only the logs a token may read", { timeout: 30_000 }, async () => {
  const visible = (await clients.logs.listLogs({}, as("writer"))).logs.map((log) => log.log);
  assert.ok(visible.includes("orders-1") && visible.every((log) => log.startsWith("orders-")), `writer sees ${visible.join(", ")}`);
  assert.ok((await clients.logs.listLogs({}, as("reader"))).logs.some((log) => log.log === "payroll"));
});

test("a read-only token neither moves nor fences another reader; seek may", { timeout: 30_000 }, async () => {
  const billing = openSession("admin", { log: "orders-1", readerId: "billing" });
  assert.equal(await billing.first, OK);
  try {
    const before = await clients.readers.getPosition({ log: "orders-1", readerId: "billing" }, as("admin"));
    // The attack: open{override: LATEST} on billing with read only.
    const latest = { at: { $case: "boundary" as const, value: Boundary.BOUNDARY_LATEST } };
    assert.equal(await sessionCode("reader", { log: "orders-1", readerId: "billing", override: latest }), DENIED);
    assert.equal(await sessionCode("reader", { log: "orders-1", readerId: "billing" }), DENIED, "no takeover of a live session with read only");
    const afterwards = await clients.readers.getPosition({ log: "orders-1", readerId: "billing" }, as("admin"));
    assert.deepEqual(afterwards.floor, before.floor, "billing's position did not move");
    assert.equal(afterwards.live, true, "billing's session was not fenced");
    assert.equal(afterwards.epoch, before.epoch);

    assert.equal(await sessionCode("seeker", { log: "orders-1", readerId: "billing" }), OK, "seek may take the reader over");
  } finally {
    billing.end();
  }
  // A token whose readers patterns name the reader may take its own reader over (a restarted consumer).
  const first = openSession("etl", { log: "orders-1", readerId: "etl-job" });
  assert.equal(await first.first, OK);
  try {
    assert.equal(await sessionCode("etl", { log: "orders-1", readerId: "etl-job" }), OK);
  } finally {
    first.end();
  }
});
