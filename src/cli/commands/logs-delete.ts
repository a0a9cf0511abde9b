import { Command } from "commander";
import { confirm } from "../confirm.js";
import { contextOf } from "../context.js";
import { plural } from "../format.js";
import { yesOption } from "../options.js";
import { write } from "../output.js";

export function logsDeleteCommand(): Command {
  return new Command("delete")
    .summary("delete a log, its records and its readers")
    .argument("<log>", "the log")
    .addOption(yesOption())
    .action(async (log: string, options: { yes?: boolean }, command: Command) => {
      const context = contextOf(command);
      const [info, readers] = await Promise.all([context.client.getLog(log), context.client.listReaders(log)]);
      const names =
        readers
          .slice(0, 5)
          .map((reader) => reader.readerId)
          .join(", ") + (readers.length > 5 ? ", …" : "");
      const plan =
        `logs delete would delete log ${log}: ${plural(info.recordCount, "record")} in ${plural(info.segments.length, "segment")}` +
        (readers.length > 0 ? `, and ${plural(readers.length, "reader")} (${names})` : "");
      await confirm(plan, options.yes);
      const deleted = await context.client.deleteLog(log);
      await write(context.json ? `${JSON.stringify({ log, recordsDeleted: deleted.toString() })}\n` : `deleted ${log} (${plural(deleted, "record")})\n`);
    });
}
