import assert from "node:assert/strict";
import { test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { isDlogError } from "../../src/errors.js";

const VECTORS: Array<[DLSN, string, string]> = [
  [new DLSN(1n, 2n, 3n), "01000000000000000100000000000000020000000000000003", "AQAAAAAAAAABAAAAAAAAAAIAAAAAAAAAAw=="],
  [DLSN.INITIAL, "01000000000000000100000000000000000000000000000000", "AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAA=="],
  [DLSN.NON_INCLUSIVE_LOWER_BOUND, "0100000000000000010000000000000000ffffffffffffffff", "AQAAAAAAAAABAAAAAAAAAAD//////////w=="],
  [DLSN.INVALID, "010000000000000000ffffffffffffffffffffffffffffffff", "AQAAAAAAAAAA/////////////////////w=="],
];

test("serializeBytes and serialize match DistributedLog's test vectors", () => {
  for (const [dlsn, hex, text] of VECTORS) {
    assert.equal(dlsn.serializeBytes().toString("hex"), hex, dlsn.toString());
    assert.equal(dlsn.serialize(), text, dlsn.toString());
  }
});

test("deserializing the vectors gives back the same DLSN", () => {
  for (const [dlsn, hex, text] of VECTORS) {
    assert.ok(DLSN.deserializeBytes(Buffer.from(hex, "hex")).equals(dlsn));
    assert.ok(DLSN.deserialize(text).equals(dlsn));
    assert.ok(DLSN.parse(text).equals(dlsn));
  }
});

test("special values are those of DistributedLog", () => {
  assert.equal(DLSN.INITIAL.toString(), "1/0/0");
  assert.equal(DLSN.NON_INCLUSIVE_LOWER_BOUND.toString(), "1/0/-1");
  assert.equal(DLSN.INVALID.toString(), "0/-1/-1");
});

test("order is field by field: segment, then entry, then slot", () => {
  const sorted = [
    DLSN.INVALID,
    DLSN.NON_INCLUSIVE_LOWER_BOUND,
    DLSN.INITIAL,
    new DLSN(1n, 0n, 1n),
    new DLSN(1n, 1n, 0n),
    new DLSN(1n, 2n, 3n),
    new DLSN(2n, 0n, 0n),
  ];
  for (let i = 0; i < sorted.length; i++) {
    for (let j = 0; j < sorted.length; j++) {
      assert.equal(Math.sign(sorted[i]!.compare(sorted[j]!)), Math.sign(i - j), `${sorted[i]} vs ${sorted[j]}`);
    }
  }
  assert.ok(new DLSN(1n, 2n, 3n).isBefore(new DLSN(1n, 3n, 0n)));
  assert.ok(new DLSN(2n, 0n, 0n).isAfter(new DLSN(1n, 99n, 99n)));
});

test("next() moves to the next slot, nextEntry() to the next entry", () => {
  assert.equal(new DLSN(1n, 2n, 3n).next().toString(), "1/2/4");
  assert.equal(new DLSN(1n, 2n, 3n).nextEntry().toString(), "1/3/0");
  assert.equal(DLSN.INITIAL.justBefore().toString(), "1/0/-1");
});

test("int64 values beyond 2^53 keep every bit", () => {
  const big = new DLSN(9223372036854775807n, 9007199254740993n, -9223372036854775808n);
  const back = DLSN.deserializeBytes(big.serializeBytes());
  assert.equal(back.segment, 9223372036854775807n);
  assert.equal(back.entry, 9007199254740993n);
  assert.equal(back.slot, -9223372036854775808n);
});

test("the human form seg/entry/slot parses", () => {
  assert.ok(DLSN.parse("1/42/0").equals(new DLSN(1n, 42n, 0n)));
  assert.ok(DLSN.parse(" 3/0/-1 ").equals(new DLSN(3n, 0n, -1n)));
});

test("malformed input is rejected with INVALID_ARGUMENT and a reason", () => {
  const cases: Array<[() => unknown, RegExp]> = [
    [() => DLSN.deserializeBytes(Buffer.alloc(24)), /25 bytes/],
    [() => DLSN.deserializeBytes(Buffer.alloc(26)), /25 bytes/],
    [() => DLSN.deserializeBytes(Buffer.concat([Buffer.from([2]), Buffer.alloc(24)])), /version 2/],
    [() => DLSN.deserialize("not base64!"), /not a serialized DLSN/],
    [() => DLSN.deserialize("AQAAAAAAAAABAAAAAAAAAAIAAAAAAAAAAw="), /not a serialized DLSN/],
    [() => DLSN.deserialize("AgAAAAAAAAABAAAAAAAAAAIAAAAAAAAAAw=="), /version 2/],
    [() => DLSN.parse("1/2"), /not a DLSN|not a serialized DLSN/],
    [() => DLSN.parse("a/b/c"), /not a DLSN|not a serialized DLSN/],
    [() => new DLSN(1n << 63n, 0n, 0n), /signed 64-bit/],
  ];
  for (const [run, message] of cases) {
    assert.throws(run, (error: unknown) => isDlogError(error, "INVALID_ARGUMENT") && message.test((error as Error).message));
  }
});
