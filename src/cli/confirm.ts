/** Destructive commands say what they would do, and go ahead only when told to. */
import { once } from "node:events";
import { createInterface } from "node:readline/promises";
import { NotConfirmedError, UsageError } from "./exit-codes.js";

/**
 * `plan` says what would happen, in words ("delete log demo and its 2 records").
 * With --yes: go ahead. On a terminal: ask. Otherwise (a script, a pipe): refuse,
 * saying what would have happened, rather than guess.
 */
export async function confirm(plan: string, yes: boolean | undefined): Promise<void> {
  if (yes === true) return;
  if (!process.stdin.isTTY) throw new UsageError(`${plan}: add --yes to go ahead (stdin is not a terminal, so dlog cannot ask)`);
  const lines = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const closed = once(lines, "close").then(() => ""); // Ctrl-D: no
    const answer = await Promise.race([lines.question(`${plan}. Go ahead? [y/N] `), closed]);
    if (!/^\s*y(es)?\s*$/i.test(answer)) throw new NotConfirmedError("not confirmed; nothing was changed");
  } finally {
    lines.close();
  }
}
