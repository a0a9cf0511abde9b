import { Command, Option } from "commander";
import type { DLSN, LogInfo, SegmentInfo } from "../../../clients/typescript/src/index.js";
import { confirm } from "../confirm.js";
import { type CliContext, contextOf } from "../context.js";
import { UsageError } from "../exit-codes.js";
import { plural, recordFormatter } from "../format.js";
import { type PayloadEncoding, dlsn, payloadOption, required, yesOption } from "../options.js";
import { note, write } from "../output.js";

interface TruncateOptions {
  before: DLSN;
  dryRun?: boolean;
  force?: boolean;
  yes?: boolean;
  payload?: PayloadEncoding;
}

export function logsTruncateCommand(): Command {
  return new Command("truncate")
    .summary("drop the whole segments before a DLSN")
    .description(
      "Drop every segment whose records all lie before --before (only whole segments go, oldest first). " +
        "Readers positioned in dropped records resume at the first record left. --dry-run prints the records that would go.",
    )
    .argument("<log>", "the log")
    .addOption(required(new Option("--before <dlsn>", "segments entirely before this DLSN go (1/42/0 or base64)").argParser(dlsn)))
    .option("--dry-run", "print the records that would be dropped, and drop nothing")
    .option("--force", "allow a DLSN past the log's last record (drops every record, the open segment included)")
    .addOption(yesOption())
    .addOption(payloadOption())
    .action(async (log: string, options: TruncateOptions, command: Command) => truncate(contextOf(command), log, options));
}

/** The segments the server drops: the leading run of segments whose last record lies before `before`. */
function doomedSegments(info: LogInfo, before: DLSN): SegmentInfo[] {
  const doomed: SegmentInfo[] = [];
  for (const segment of info.segments) {
    if (segment.lastDlsn === undefined || !segment.lastDlsn.isBefore(before)) break;
    doomed.push(segment);
  }
  return doomed;
}

async function truncate(context: CliContext, log: string, options: TruncateOptions): Promise<void> {
  const { client } = context;
  const { before } = options;
  const info = await client.getLog(log);
  const pastHead = info.lastDlsn !== undefined && before.isAfter(info.lastDlsn);
  if (pastHead && !options.force) {
    throw new UsageError(
      `logs truncate: --before ${before} is past the last record of ${log} (${info.lastDlsn}): every record would go, ` +
        "the open segment included; add --force if that is what you want",
    );
  }
  const doomed = doomedSegments(info, before);
  const records = doomed.reduce((sum, segment) => sum + segment.recordCount, 0n);
  const range = doomed.length === 0 ? "" : ` (${doomed[0]!.firstDlsn} to ${doomed.at(-1)!.lastDlsn})`;
  const plan = `truncating ${log} before ${before} drops ${plural(doomed.length, "segment")}, ${plural(records, "record")}${range}`;
  if (options.dryRun) {
    const format = recordFormatter(context.json, options.payload);
    let out = "";
    if (records > 0n) for await (const record of client.read(log, { from: "earliest", max: Number(records) })) out += format(record);
    await write(out);
    note(context, `dry run: ${plan}; nothing was dropped`);
    return;
  }
  // Nothing to drop needs no confirmation; the server's answer says what it did.
  if (doomed.length > 0 || pastHead) await confirm(`logs ${plan}`, options.yes);
  const result = await client.truncate(log, before, { force: options.force ?? false });
  await write(
    context.json
      ? `${JSON.stringify({ log, segmentsDeleted: result.segmentsDeleted.toString(), recordsDeleted: result.recordsDeleted.toString(), firstDlsn: result.firstDlsn?.toString() ?? null })}\n`
      : `truncated ${log}: ${plural(result.segmentsDeleted, "segment")}, ${plural(result.recordsDeleted, "record")} deleted; first record now ${result.firstDlsn?.toString() ?? "none (the log is empty)"}\n`,
  );
}
