import assert from "node:assert/strict";
import { test } from "node:test";
import { DlogError } from "../../src/errors.js";
import { createLogger, rateLimited } from "../../src/server/logger.js";

function capture(level: Parameters<typeof createLogger>[0] = "debug") {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

test("an error is logged with its cause chain, a cause that is not an Error as text", () => {
  const { logger, lines } = capture();
  const root = Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
  logger.error({ err: new DlogError("UNAVAILABLE", "reader positions could not be written", { cause: root }) }, "position flush failed");
  logger.error({ err: new Error("outer", { cause: "ENOSPC" }) }, "with a string cause");
  const [first, second] = lines as Array<{
    err: { message: string; type: string; cause?: { message?: string; code?: string } | string };
    msg: string;
    level: string;
  }>;
  assert.equal(first!.level, "error");
  assert.equal(first!.msg, "position flush failed");
  assert.equal(first!.err.message, "reader positions could not be written");
  assert.equal(first!.err.type, "DlogError");
  assert.deepEqual([(first!.err.cause as { message: string }).message, (first!.err.cause as { code: string }).code], ["EIO: i/o error, write", "EIO"]);
  assert.equal(second!.err.cause, "ENOSPC");
});

test("the level filters: info drops debug lines, and says so to callers that check", () => {
  const { logger, lines } = capture("info");
  logger.debug({ detail: 1 }, "hidden");
  logger.info("shown");
  assert.deepEqual(
    lines.map((line) => line.msg),
    ["shown"],
  );
  assert.equal(logger.isLevelEnabled("debug"), false);
  assert.equal(logger.isLevelEnabled("warn"), true);
});

test("child loggers carry their bindings on every line", () => {
  const { logger, lines } = capture();
  logger.child({ log: "orders", reader: "billing" }).info({ extra: true }, "x");
  assert.deepEqual([lines[0]!.log, lines[0]!.reader, lines[0]!.extra, lines[0]!.msg], ["orders", "billing", true, "x"]);
});

test("rateLimited: once per interval per key, the next line counts what was left out", () => {
  const { logger, lines } = capture();
  let now = 0;
  const limited = rateLimited(logger, "warn", 1_000, () => now);
  limited({ n: 1 }, "refused", "a");
  limited({ n: 2 }, "refused", "a");
  limited({ n: 3 }, "refused", "b");
  now = 500;
  limited({ n: 4 }, "refused", "a");
  now = 1_200;
  limited({ n: 5 }, "refused", "a");
  assert.deepEqual(
    lines.map((line) => [line.n, line.suppressed, line.level]),
    [
      [1, undefined, "warn"],
      [3, undefined, "warn"],
      [5, 2, "warn"],
    ],
  );
});
