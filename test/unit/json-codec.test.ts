import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeJson, encodeJson } from "../../src/storage/json-codec.js";

/** What metadata was always stored as: JSON.stringify with bigints as "12n". */
function stringified(value: object): Buffer {
  return Buffer.from(JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)));
}

describe("json-codec", () => {
  it("writes a flat segment or log meta byte for byte as JSON.stringify with bigints as strings did", () => {
    const segment = {
      logId: 7,
      segment: 3n,
      firstEntry: 0n,
      lastEntry: 12_345n,
      lastSlot: 0n,
      firstSequenceId: -1n,
      recordCount: 2n ** 63n - 1n,
      byteCount: 1_234_500n,
      firstTxid: 1_733_300_000_000n,
      lastTxid: 1_733_300_012_345n,
      createdTimeMs: 1_733_300_000_000,
      firstAppendTimeMs: 0,
      lastAppendTimeMs: 1.5,
    };
    const log = { id: 1, name: 'quote" back\\slash \u0001 é 日本', truncatedRecordCount: 0n, open: true, closed: false, gone: undefined, nan: Number.NaN };
    for (const value of [segment, log, {}, { only: undefined }, { 'we"ird key': 1n }]) {
      assert.deepEqual(encodeJson(value), stringified(value));
    }
    assert.deepEqual(decodeJson(encodeJson(segment)), segment);
  });

  it("writes nested values, arrays and Buffers as JSON.stringify with bigints as strings does", () => {
    const nested = { meta: { id: 1, lastTxid: 5n }, segments: [{ segment: 1n }, { segment: 2n }], tailSeq: 3, bytes: Buffer.from("ab") };
    for (const value of [nested, [1n, 2, "x"], { at: new Date(0) }, { list: [] }]) {
      assert.deepEqual(encodeJson(value), stringified(value));
    }
  });
});
