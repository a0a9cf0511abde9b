import { createInterface } from "node:readline";
import { Command } from "commander";
import type { AppendInput, DLSN } from "../../../clients/typescript/src/index.js";
import { type CliContext, contextOf } from "../context.js";
import { logOption } from "../options.js";
import { startProgress } from "../progress.js";

/** Lines from one stdin chunk go out as one append (one entry), at most this many records each. */
const STDIN_BATCH_RECORDS = 1000;
const STDIN_BATCH_BYTES = 512 * 1024;

export function appendCommand(): Command {
  return new Command("append")
    .summary("append records; prints their DLSNs")
    .description(
      "Append each RECORD argument as one record (all of them in one entry), or, with no arguments, each line of stdin as a record " +
        "(batched and pipelined). Prints the DLSN of each record, in order.",
    )
    .argument("[records...]", "the records; none: read lines from stdin")
    .addOption(logOption())
    .action(async (records: string[], options: { log: string }, command: Command) => {
      const context = contextOf(command);
      if (records.length > 0) printDlsns(context, await context.client.append(options.log, records));
      else await appendLines(context, options.log);
    });
}

function printDlsns(context: CliContext, dlsns: DLSN[]): void {
  let out = "";
  for (const dlsn of dlsns) out += context.json ? `${JSON.stringify({ dlsn: dlsn.toString() })}\n` : `${dlsn.toString()}\n`;
  process.stdout.write(out);
}

/** Pipelined: batches are sent while stdin is still read; answers come back in order and are printed in order. */
async function appendLines(context: CliContext, log: string): Promise<void> {
  const appender = context.client.appender(log);
  const progress = startProgress({ verb: "appended", quiet: context.quiet });
  let printed = Promise.resolve();
  let failure: unknown;
  let batch: AppendInput[] = [];
  let batchBytes = 0;
  const send = (): void => {
    if (batch.length === 0) return;
    const answer = appender.append(batch);
    answer.catch(() => undefined);
    printed = printed
      .then(async () => {
        if (failure !== undefined) return;
        const dlsns = await answer;
        printDlsns(context, dlsns);
        progress.add(dlsns.length);
      })
      .catch((error: unknown) => {
        failure ??= error;
      });
    batch = [];
    batchBytes = 0;
  };
  let flushScheduled = false;
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) {
      if (failure !== undefined) break;
      batch.push(line);
      batchBytes += Buffer.byteLength(line);
      if (batch.length >= STDIN_BATCH_RECORDS || batchBytes >= STDIN_BATCH_BYTES) send();
      else if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(() => {
          flushScheduled = false;
          send();
        });
      }
      await appender.ready(); // bounded: stdin is read only as fast as dlogd answers
    }
    send();
    await appender.flush();
    await printed;
    await appender.close();
  } finally {
    progress.done();
  }
  if (failure !== undefined) throw failure;
}
