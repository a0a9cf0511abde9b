/** The JSON log lines a dlogd wrote (pino), parsed, for tests that read the server's real log output. */
import assert from "node:assert/strict";

export type LogLine = Record<string, unknown> & { level: string; msg: string };

/** The server's stderr as parsed JSON lines. */
export function logLines(output: string): LogLine[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

/** Waits (bounded) until `match` finds lines in the server's output; returns them. */
export async function waitForLines(output: () => string, match: (line: LogLine) => boolean, count = 1, timeoutMs = 5_000): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = logLines(output()).filter(match);
    if (found.length >= count) return found;
    if (Date.now() > deadline) assert.fail(`expected ${count} matching log line(s) within ${timeoutMs} ms; the log:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
