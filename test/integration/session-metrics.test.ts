import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ClientError, Status } from "nice-grpc";
import { type Fixture, startFixture } from "../helpers/fixture.js";
import { TestSession, appendNumbered } from "../helpers/session.js";

const SERVER_TEST = { timeout: 30_000 };
const SESSION = 'grpc_type="bidi_stream",grpc_service="dlog.v1.ReaderService",grpc_method="Session",grpc_path="/dlog.v1.ReaderService/Session"';

// The Session method is served by a grpc-js handler of its own (no nice-grpc middleware): its calls
// must show in the same gRPC metrics as every other method's.
describe("Session calls in the gRPC metrics", () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await startFixture({ metrics: true });
  });
  after(() => fixture.close());

  const deltaSince = async (before: Map<string, number>) => {
    const now = await fixture.metrics();
    return (series: string): number => (now.get(series) ?? 0) - (before.get(series) ?? 0);
  };

  test("a drained session counts as started, handled OK, with its messages received and sent", SERVER_TEST, async () => {
    await appendNumbered(fixture.clients, "metered", 5);
    const before = await fixture.metrics();
    const { session } = await TestSession.open(fixture.clients, { log: "metered", readerId: "m", fallback: { at: { $case: "boundary", value: 1 } } });
    const records = await session.records(5);
    session.ack(records.map((record) => record.dlsn!));
    session.drain();
    await session.drained();
    const delta = await deltaSince(before);
    assert.equal(delta(`grpc_server_started_total{${SESSION}}`), 1);
    assert.equal(delta(`grpc_server_handled_total{${SESSION},grpc_code="OK"}`), 1);
    assert.equal(delta(`grpc_server_handling_seconds_count{${SESSION},grpc_code="OK"}`), 1);
    assert.equal(delta(`grpc_server_msg_received_total{${SESSION}}`), 3, "open, ack, drain");
    // Opened, at least one Records frame, Drained (and any status frames between).
    assert.ok(delta(`grpc_server_msg_sent_total{${SESSION}}`) >= 3);
  });

  test("a session refused at its first message counts as handled with that status", SERVER_TEST, async () => {
    const before = await fixture.metrics();
    const requests = (async function* () {
      yield { kind: { $case: "drain" as const, value: {} } };
    })();
    await assert.rejects(
      (async () => {
        for await (const _ of fixture.clients.readers.session(requests));
      })(),
      (error: unknown) => error instanceof ClientError && error.code === Status.INVALID_ARGUMENT,
    );
    const delta = await deltaSince(before);
    assert.equal(delta(`grpc_server_started_total{${SESSION}}`), 1);
    assert.equal(delta(`grpc_server_handled_total{${SESSION},grpc_code="INVALID_ARGUMENT"}`), 1);
    assert.equal(delta(`grpc_server_msg_received_total{${SESSION}}`), 1);
  });
});
