import { Command, Option } from "commander";
import type { ReaderPosition } from "../../../clients/typescript/src/index.js";
import { confirm } from "../confirm.js";
import { type CliContext, contextOf } from "../context.js";
import { floorText, plural } from "../format.js";
import { type StoredOffset, readOffsetStore } from "../offset-store.js";
import { logOption, required, yesOption } from "../options.js";
import { note, write } from "../output.js";

interface ImportOptions {
  offsetStore: string;
  log: string;
  dryRun?: boolean;
  force?: boolean;
  yes?: boolean;
}

export function readersImportCommand(): Command {
  return new Command("import")
    .summary("set readers' positions from a DistributedLog tutorial offset store")
    .description(
      "Read the LevelDB offset store of DistributedLog's at-least-once tutorial (reader id → the 25-byte DLSN of the last " +
        "record read) and set each reader's position on --log. The tutorial re-opened its reader AT the stored DLSN, so that " +
        "record was read again; dlog resumes strictly after a reader's floor, so each floor is set just before the stored " +
        "DLSN: the reader's next session starts with the stored record, as the tutorial's program would have. No record is " +
        "skipped; that one comes again. Readers missing from the store start at the first record, as the tutorial's did.",
    )
    .addOption(required(new Option("--offset-store <dir>", "the tutorial's LevelDB directory (the program using it must be stopped)")))
    .addOption(logOption())
    .option("--dry-run", "print what would be set, and set nothing")
    .option("--force", "end live sessions of the imported readers (otherwise a live reader is refused)")
    .addOption(yesOption())
    .action(async (options: ImportOptions, command: Command) => importOffsets(contextOf(command), options));
}

async function importOffsets(context: CliContext, options: ImportOptions): Promise<void> {
  const { client } = context;
  const { log } = options;
  const offsets = await readOffsetStore(options.offsetStore);
  if (offsets.length === 0) {
    note(context, `no offsets in ${options.offsetStore}; nothing to import`);
    return;
  }
  const [info, readers] = await Promise.all([client.getLog(log), client.listReaders(log)]);
  const existing = new Map(readers.map((reader) => [reader.readerId, reader]));
  // Validate everything, then act: a live reader refused halfway would leave the import half done.
  const live = offsets.filter((offset) => existing.get(offset.readerId)?.live).map((offset) => offset.readerId);
  if (live.length > 0 && !options.force) {
    throw new Error(
      `readers import: ${live.join(", ")} of ${log} ${live.length === 1 ? "has a live session" : "have live sessions"}; stop them, or add --force to end them; nothing was imported`,
    );
  }
  const planned = (offset: StoredOffset): string => {
    const before = existing.get(offset.readerId);
    return `${offset.readerId}: stored ${offset.dlsn} → next session starts at ${offset.dlsn}${before ? ` (replaces floor ${floorText(before.floor, info.firstDlsn)})` : ""}`;
  };
  if (options.dryRun) {
    await write(
      offsets
        .map((offset) =>
          context.json
            ? `${JSON.stringify({ log, readerId: offset.readerId, stored: offset.dlsn.toString(), startsAt: offset.dlsn.toString(), replaces: existing.get(offset.readerId)?.floor?.toString() ?? null })}\n`
            : `${planned(offset)}\n`,
        )
        .join(""),
    );
    note(context, `dry run: ${plural(offsets.length, "reader")} of ${log} would be set from ${options.offsetStore}; nothing was changed`);
    return;
  }
  const replacing = offsets.filter((offset) => existing.has(offset.readerId)).length;
  await confirm(
    `readers import would set ${plural(offsets.length, "reader")} of ${log} from ${options.offsetStore}` +
      (replacing > 0 ? `, replacing the positions of ${replacing}` : "") +
      " (each starts again at its stored record)",
    options.yes,
  );
  let done = 0;
  try {
    for (const offset of offsets) {
      const position: ReaderPosition = await client.setPosition(log, offset.readerId, offset.dlsn, { force: options.force ?? false });
      done++;
      await write(
        context.json
          ? `${JSON.stringify({ log, readerId: offset.readerId, stored: offset.dlsn.toString(), floor: position.floor?.toString() ?? null })}\n`
          : `imported ${offset.readerId}: next session starts at ${offset.dlsn} (floor ${floorText(position.floor, info.firstDlsn)})\n`,
      );
    }
  } finally {
    if (done < offsets.length) note(context, `imported ${done} of ${offsets.length} readers before the failure`);
  }
}
