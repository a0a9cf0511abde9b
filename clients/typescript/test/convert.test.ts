import assert from "node:assert/strict";
import { test } from "node:test";
import { DLSN } from "../../../src/dlsn.js";
import { Boundary } from "../src/gen/dlog/v1/common.js";
import { toRecordInputs } from "../src/appender.js";
import { parseStartAt, toWirePosition } from "../src/convert.js";

test("positions typed by people parse to every start form", () => {
  assert.equal(parseStartAt("earliest"), "earliest");
  assert.equal(parseStartAt("LATEST"), "latest");
  assert.ok((parseStartAt("1/42/0") as DLSN).equals(new DLSN(1n, 42n, 0n)));
  assert.ok((parseStartAt("AQAAAAAAAAABAAAAAAAAAAIAAAAAAAAAAw==") as DLSN).equals(new DLSN(1n, 2n, 3n)));
  assert.deepEqual(parseStartAt("txid:17"), { txid: 17n });
  assert.deepEqual(parseStartAt("time:1000"), { time: 1000 });
  assert.deepEqual(parseStartAt("time:1970-01-01T00:00:02Z"), { time: 2000 });
  assert.throws(() => parseStartAt("yesterday"), /not a position: use earliest, latest/);
});

test("start positions become the Position oneof", () => {
  assert.deepEqual(toWirePosition("earliest"), { at: { $case: "boundary", value: Boundary.BOUNDARY_EARLIEST } });
  assert.deepEqual(toWirePosition(new DLSN(1n, 2n, 3n)), { at: { $case: "dlsn", value: { segment: 1n, entry: 2n, slot: 3n } } });
  assert.deepEqual(toWirePosition({ txid: 5 }), { at: { $case: "txid", value: 5n } });
  assert.deepEqual(toWirePosition({ time: new Date(7) }), { at: { $case: "timeMs", value: 7n } });
});

test("append inputs: strings are UTF-8, bytes pass through, txids are kept", () => {
  const inputs = toRecordInputs(["é", new Uint8Array([1, 2]), { payload: "x", txid: 9 }]);
  assert.deepEqual(
    inputs.map((input) => [[...input.payload], input.txid]),
    [
      [[0xc3, 0xa9], undefined],
      [[1, 2], undefined],
      [[0x78], 9n],
    ],
  );
  assert.equal(toRecordInputs("one").length, 1);
  assert.equal(toRecordInputs(new Uint8Array([1])).length, 1);
});
