import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ERROR_REASONS } from "../../src/errors.js";

/** Compiled to dist/test/unit/: the repository root is three levels up. */
const README = new URL("../../../README.md", import.meta.url);

/** The reasons in the first column of the README's "Errors" table. */
function readmeReasons(): string[] {
  const text = readFileSync(README, "utf8");
  const section = /^## Errors\n([\s\S]*?)(?=^## )/m.exec(text)?.[1];
  assert.ok(section, 'README has an "## Errors" section');
  const rows = section.split("\n").filter((line) => /^\| `[A-Z_]+` \|/.test(line));
  for (const row of rows) assert.equal(row.split(" | ").length, 4, `four columns (reason, status, when, metadata): ${row}`);
  return rows.map((row) => /^\| `([A-Z_]+)` \|/.exec(row)![1]!);
}

test("the README's error table lists every reason of ERROR_REASONS, once, and no other", () => {
  const listed = readmeReasons();

  assert.deepEqual([...listed].sort(), [...ERROR_REASONS].sort());
  assert.equal(new Set(listed).size, listed.length, "no reason listed twice");
});
