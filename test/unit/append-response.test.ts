import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { AppendResponse } from "../../src/gen/dlog/v1/log.js";
import { toWireDlsn } from "../../src/server/convert.js";
import { AppendResult } from "../../src/log/append-result.js";
import { encodeAppendResponse } from "../../src/server/append-response.js";

/** What the generated encoder writes for the same answer: the hand encoder must match it byte for byte. */
function generated(dlsns: DLSN[], txids: bigint[], requestId: bigint, duplicate: boolean): Buffer {
  return Buffer.from(AppendResponse.encode({ dlsns: dlsns.map(toWireDlsn), txids, requestId, error: undefined, duplicate }).finish());
}

/** An append of `count` records from `firstSlot` of entry `segment`/`entry`, with these txids. */
function check(segment: bigint, entry: bigint, firstSlot: number, count: number, txids: bigint[], requestId = 0n, duplicate = false): void {
  const result = new AppendResult(segment, entry, firstSlot, count, txids, 0n, duplicate);
  const dlsns = Array.from({ length: count }, (_, i) => new DLSN(segment, entry, BigInt(firstSlot + i)));
  assert.deepEqual(result.dlsns, dlsns);
  const encoded = Buffer.from(encodeAppendResponse(result, requestId).bytes);
  assert.deepEqual(encoded, generated(dlsns, txids, requestId, duplicate));
  const decoded = AppendResponse.decode(encoded);
  assert.deepEqual(
    decoded.dlsns.map((d) => `${d.segment}/${d.entry}/${d.slot}`),
    dlsns.map((d) => d.toString()),
  );
  assert.deepEqual(decoded.txids, txids);
  assert.equal(decoded.requestId, requestId);
  assert.equal(decoded.duplicate, duplicate);
}

describe("encodeAppendResponse", () => {
  it("writes what the generated encoder writes for one record", () => {
    check(1n, 0n, 0, 1, [1_764_000_000_000n], 7n);
  });

  it("writes consecutive slots of one entry, one shared txid, as the generated encoder", () => {
    check(
      3n,
      123_456n,
      0,
      1000,
      Array.from({ length: 1000 }, () => 1_764_000_000_123n),
      2n ** 40n,
    );
    // Slots past one varint byte, and an append that starts inside a packed entry.
    check(
      3n,
      7n,
      100,
      300,
      Array.from({ length: 300 }, () => 5n),
    );
  });

  it("writes varying txids, large and negative fields, and duplicate, as the generated encoder", () => {
    check(2n ** 62n, -1n, 5, 4, [-5n, -5n, 0n, 2n ** 63n - 1n], 0n, true);
    check(2n ** 62n, -1n, 5, 4, [1n, 127n, 128n, 2n ** 31n], 2n ** 64n - 1n, false);
    check(0n, 0n, 0, 2, [0n, 1n]);
    check(9n, 2n ** 33n, 2 ** 31 - 1, 1, [3n]);
  });

  it("refuses slots that are not a run of one entry's slots below 2^31", () => {
    assert.throws(() => new AppendResult(1n, 0n, 2 ** 31 - 1, 2, [1n, 1n], 0n), RangeError);
    assert.throws(() => new AppendResult(1n, 0n, 0, 0, [], 0n), RangeError);
    assert.throws(() => new AppendResult(1n, 0n, -1, 1, [1n], 0n), RangeError);
  });
});
