import assert from "node:assert/strict";
import { test } from "node:test";
import { createBackoff } from "../src/backoff.js";

test("delays grow exponentially up to the cap, with the jitter below the cap", () => {
  const backoff = createBackoff({ initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2 }, () => 1);
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => backoff.next()),
    [100, 200, 400, 800, 1000, 1000],
  );
  const jittered = createBackoff({ initialDelayMs: 100, maxDelayMs: 1000 }, () => 0.5);
  assert.deepEqual([jittered.next(), jittered.next()], [50, 100]);
});

test("gives up after maxAttempts, and starts over after reset", () => {
  const backoff = createBackoff({ maxAttempts: 2 }, () => 1);
  assert.notEqual(backoff.next(), undefined);
  assert.notEqual(backoff.next(), undefined);
  assert.equal(backoff.next(), undefined);
  backoff.reset();
  assert.equal(backoff.next(), 50);
});

test("gives up once the session has been down for maxElapsedMs", () => {
  let now = 0;
  const backoff = createBackoff(
    { maxElapsedMs: 1000 },
    () => 1,
    () => now,
  );
  assert.notEqual(backoff.next(), undefined);
  now = 999;
  assert.notEqual(backoff.next(), undefined);
  now = 1000;
  assert.equal(backoff.next(), undefined);
});

test("absurd settings are refused with a message", () => {
  assert.throws(() => createBackoff({ initialDelayMs: 10, maxDelayMs: 5 }), /initialDelayMs <= maxDelayMs/);
  assert.throws(() => createBackoff({ multiplier: 0.5 }), /multiplier >= 1/);
});
