import { Command } from "commander";
import type { DLSN, OpenedInfo, ReconnectingInfo, ResumeSourceName, StartAt } from "../../../clients/typescript/src/index.js";
import { type CliContext, contextOf } from "../context.js";
import { EXIT, causeOf } from "../exit-codes.js";
import { floorText, plural, recordFormatter, resumeText } from "../format.js";
import { type PayloadEncoding, fromOption, logOption, maxOption, payloadOption, readerOption } from "../options.js";
import { drained, note, output } from "../output.js";
import { startProgress } from "../progress.js";

interface TailOptions {
  log: string;
  reader: string;
  max?: number;
  from?: StartAt;
  payload?: PayloadEncoding;
}

export function tailCommand(): Command {
  return new Command("tail")
    .summary("print records as a reader, acking each once printed")
    .description(
      "Print the records of a log as reader ID, and ack each one once its line is written. On exit (--max, Ctrl-C, SIGTERM, " +
        "the pipe closing) the session is drained, so the next tail with the same reader goes on after the last line printed. " +
        "Notes on stderr: where it resumes, reconnects during an outage, and a one-line drain summary.",
    )
    .addOption(logOption())
    .addOption(readerOption())
    .addOption(maxOption("stop after this many records"))
    .addOption(fromOption("re-position the reader first"))
    .addOption(payloadOption())
    .action(async (options: TailOptions, command: Command) => tail(contextOf(command), options));
}

const SOURCES: Record<ResumeSourceName, string> = {
  stored: "stored position",
  fallback: "no stored position",
  override: "--from",
  client: "client checkpoint",
  unspecified: "server default",
};

async function tail(context: CliContext, options: TailOptions): Promise<void> {
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const { client } = context;
  // One clear error now (unknown log, unreachable, not permitted) instead of a reconnect loop.
  const first = (await client.getLog(options.log)).firstDlsn;
  const reader = client.reader({
    log: options.log,
    readerId: options.reader,
    from: options.from,
    // No point having more records out than we will print.
    flow: Number.isFinite(max) ? { maxOutstandingRecords: Math.min(max, 1000) } : undefined,
  });
  reader.on("opened", (opened: OpenedInfo) => {
    const where = resumeText(opened.resumeAfter, first);
    if (opened.reconnects === 0) note(context, `resuming ${where} (${SOURCES[opened.source]})`);
    else note(context, `reconnected to ${context.address}: resuming ${where}`);
  });
  reader.on("reconnecting", (info: ReconnectingInfo) => {
    note(context, `reconnecting to ${context.address} (attempt ${info.attempt}): ${causeOf(info.error)}`);
  });
  const format = recordFormatter(context.json, options.payload);
  const progress = startProgress({ verb: "read", total: options.max, quiet: context.quiet });

  // Each record is acked once its line is written; close() must wait for the last of those callbacks.
  let acked = 0;
  let unwritten = 0;
  let allWritten: (() => void) | undefined;
  const written = (): Promise<void> => (unwritten === 0 ? Promise.resolve() : new Promise((resolve) => (allWritten = resolve)));
  // e.g. `dlog tail | head`: stop, and leave what could not be printed unacked.
  const onBroken = (): void => void stop().catch(() => undefined);
  output.once("broken", onBroken);

  let stopping: Promise<DLSN | undefined> | undefined;
  const stop = (): Promise<DLSN | undefined> =>
    (stopping ??= (async () => {
      await written();
      return reader.close();
    })());
  const onSignal = (): void => {
    if (stopping) process.exit(EXIT.interrupted); // a second Ctrl-C: give up on the drain
    void stop().catch(() => undefined);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let count = 0;
  const records = reader[Symbol.asyncIterator]();
  let final: DLSN | undefined;
  try {
    while (count < max && !stopping) {
      const next = await records.next();
      if (next.done || stopping) break;
      const record = next.value;
      unwritten++;
      const flowing = process.stdout.write(format(record), (error) => {
        if (!error) {
          record.ack();
          acked++;
        }
        if (--unwritten === 0 && allWritten) allWritten();
      });
      count++;
      progress.add(1);
      if (!flowing) await drained();
    }
  } finally {
    progress.done();
    final = await stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    output.off("broken", onBroken);
  }
  note(context, `drained: ${plural(acked, "record")}, durable at ${floorText(final, first)}`);
}
