import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { AppendResponse } from "../../src/gen/dlog/v1/log.js";
import { toWireDlsn } from "../../src/server/convert.js";
import { encodeAppendResponse } from "../../src/server/append-response.js";

/** What the generated encoder writes for the same answer: the hand encoder must match it byte for byte. */
function generated(dlsns: DLSN[], txids: bigint[], requestId: bigint, duplicate: boolean): Buffer {
  return Buffer.from(AppendResponse.encode({ dlsns: dlsns.map(toWireDlsn), txids, requestId, error: undefined, duplicate }).finish());
}

function check(dlsns: DLSN[], txids: bigint[], requestId = 0n, duplicate = false): void {
  const encoded = Buffer.from(encodeAppendResponse({ dlsns, txids, firstSequenceId: 0n, duplicate }, requestId).bytes);
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
    check([new DLSN(1n, 0n, 0n)], [1_764_000_000_000n], 7n);
  });

  it("writes consecutive slots of one entry, one shared txid, as the generated encoder", () => {
    const dlsns = Array.from({ length: 1000 }, (_, i) => new DLSN(3n, 123_456n, BigInt(i)));
    check(
      dlsns,
      dlsns.map(() => 1_764_000_000_123n),
      2n ** 40n,
    );
  });

  it("writes varying txids, large and negative fields, and duplicate, as the generated encoder", () => {
    const dlsns = [new DLSN(2n ** 62n, -1n, 5n), new DLSN(2n ** 62n, -1n, 6n), new DLSN(9n, 0n, 200n), new DLSN(9n, 2n ** 33n, 0n)];
    check(dlsns, [-5n, -5n, 0n, 2n ** 63n - 1n], 0n, true);
    check(dlsns, [1n, 127n, 128n, 2n ** 31n], 2n ** 64n - 1n, false);
  });

  it("writes an answer without records as the generated encoder", () => {
    check([], [], 0n, false);
  });
});
