/** --max-readers-per-log: a log's reader ids are listed once for many opens; a refusal is decided on a fresh listing. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isDlogError } from "../../src/errors.js";
import { ReaderQuota } from "../../src/server/reader-quota.js";

/** A reader store as the quota sees it, counting how often it is listed. */
function store(initial: Record<string, string[]>) {
  const readers = new Map(Object.entries(initial).map(([log, ids]) => [log, new Set(ids)]));
  const source = {
    listings: 0,
    async readers(log: string): Promise<string[]> {
      source.listings++;
      await new Promise((resolve) => setImmediate(resolve));
      return [...(readers.get(log) ?? [])];
    },
  };
  return { readers, source };
}

const refused = (error: unknown): boolean => isDlogError(error, "RESOURCE_EXHAUSTED") && error.reason === "LIMIT_EXCEEDED";

test("many opens of one log, concurrent or not, new readers or existing ones, cost one listing", async () => {
  const { source } = store({ a: ["old"] });
  const quota = new ReaderQuota(1_000, source);
  await Promise.all(Array.from({ length: 50 }, (_, i) => quota.admit("a", `r${i}`)));
  for (let i = 0; i < 50; i++) await quota.admit("a", i % 2 === 0 ? "old" : `r${50 + i}`);
  assert.equal(source.listings, 1);
});

test("a full log refuses a new reader, never an existing one, and takes one again once a reader is deleted", async () => {
  const { readers, source } = store({ a: ["r1", "r2"] });
  const quota = new ReaderQuota(2, source);
  await quota.admit("a", "r1");
  await assert.rejects(quota.admit("a", "r3"), refused);
  await quota.admit("a", "r2");
  readers.get("a")!.delete("r1");
  quota.forget("a");
  await quota.admit("a", "r3");
  readers.get("a")!.add("r3"); // its open stored it
  await assert.rejects(quota.admit("a", "r4"), refused);
});

test("admitted ids whose creation failed do not fill a log: a refusal lists the log again first", async () => {
  const { source } = store({ a: [] });
  const quota = new ReaderQuota(2, source);
  // Two opens are admitted, but their readers are never stored (say the opens failed after the quota).
  await quota.admit("a", "gone1");
  await quota.admit("a", "gone2");
  const before = source.listings;
  await quota.admit("a", "r1");
  assert.equal(source.listings, before + 1, "the full-looking log was listed again before refusing");
});
