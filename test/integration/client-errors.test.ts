/** The TypeScript client's errors against a real dlogd: ClientErrors as before, plus the server's reason and metadata. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DlogError, Status } from "../../clients/typescript/src/index.js";
import { fixtureForFile } from "../helpers/fixture.js";

const CALL = { timeout: 20_000 };
const fixture = fixtureForFile({ client: { callTimeoutMs: 10_000 } });

/** The error `work` fails with, which must be a DlogError. */
async function failure(work: () => Promise<unknown>): Promise<DlogError> {
  try {
    await work();
  } catch (error) {
    assert.ok(error instanceof DlogError, `a DlogError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a failure");
}

test("a unary refusal is a DlogError (code, details) with the server's reason and metadata", CALL, async () => {
  await fixture.client.createLog("taken");

  const error = await failure(() => fixture.client.createLog("taken"));

  assert.ok(error instanceof DlogError);
  assert.equal(error.code, Status.ALREADY_EXISTS);
  assert.match(error.details, /already exists/);
  assert.equal(error.reason, "LOG_EXISTS");
  assert.deepEqual(error.metadata, { log: "taken" });
});

test("a streamed read's refusal carries its reason", CALL, async () => {
  const error = await failure(async () => {
    for await (const _ of fixture.client.read("no-such-log"));
  });

  assert.equal(error.code, Status.NOT_FOUND);
  assert.equal(error.reason, "LOG_NOT_FOUND");
  assert.equal(error.metadata.log, "no-such-log");
});

test("an appender's refused append carries the AppendError's reason and metadata", CALL, async () => {
  const appender = fixture.client.appender("appended");
  await appender.append({ payload: "x", txid: 50 });

  const error = await failure(() => appender.append({ payload: "y", txid: 7 }));
  await appender.close();

  assert.equal(error.code, Status.FAILED_PRECONDITION);
  assert.equal(error.reason, "TXID_OUT_OF_ORDER");
  assert.equal(error.metadata.txid, "7");
  assert.equal(error.metadata.last_txid, "50");
});

test("a reader fenced by a newer one ends with reason READER_FENCED", CALL, async () => {
  await fixture.client.append("fenced", ["a"]);
  const older = fixture.client.reader({ log: "fenced", readerId: "r" });
  await older.ready();
  const newer = fixture.client.reader({ log: "fenced", readerId: "r" });
  await newer.ready();

  const error = await failure(async () => {
    for await (const record of older) record.ack();
  });
  await newer.close();
  await older.close();

  assert.equal(error.code, Status.ABORTED);
  assert.equal(error.reason, "READER_FENCED");
  assert.deepEqual({ log: error.metadata.log, reader_id: error.metadata.reader_id }, { log: "fenced", reader_id: "r" });
});
