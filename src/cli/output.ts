/**
 * Writing to stdout and stderr. stdout going away (EPIPE: `dlog read | head`) is
 * how a pipeline says "enough": commands stop quietly instead of dying on an
 * unhandled 'error' event.
 */
import { EventEmitter } from "node:events";
import type { CliContext } from "./context.js";

export const output = new EventEmitter<{ broken: [] }>();
let broken = false;
process.stdout.on("error", () => {
  if (broken) return;
  broken = true;
  output.emit("broken");
});

/** stdout was closed by its reader. */
export function stdoutBroken(): boolean {
  return broken;
}

/** Resolves once stdout takes more (or is gone). */
export function drained(): Promise<void> {
  if (broken) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      process.stdout.off("drain", done);
      output.off("broken", done);
      resolve();
    };
    process.stdout.once("drain", done);
    output.once("broken", done);
  });
}

/** Writes to stdout; resolves once written (or stdout is gone). */
export function write(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (text === "" || broken) resolve();
    else process.stdout.write(text, () => resolve());
  });
}

/** A line on stderr for the person watching (what happens, what happened), unless --quiet. */
export function note(context: CliContext, line: string): void {
  if (!context.quiet) process.stderr.write(`${line}\n`);
}

/** Columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  return `${[header, ...rows].map(line).join("\n")}\n`;
}
