import { Command } from "commander";
import { confirm } from "../confirm.js";
import { contextOf } from "../context.js";
import { floorText } from "../format.js";
import { logOption, readerOption, yesOption } from "../options.js";
import { write } from "../output.js";
import { logAndPosition } from "../stored-position.js";

interface DeleteOptions {
  log: string;
  reader: string;
  force?: boolean;
  yes?: boolean;
}

export function readersDeleteCommand(): Command {
  return new Command("delete")
    .summary("delete a reader and its stored position")
    .addOption(logOption())
    .addOption(readerOption())
    .option("--force", "end the reader's live session, if it has one (otherwise a live reader is refused)")
    .addOption(yesOption())
    .action(async (options: DeleteOptions, command: Command) => {
      const context = contextOf(command);
      const { client } = context;
      const { info, position } = await logAndPosition(client, options.log, options.reader);
      const state = position ? `floor ${floorText(position.floor, info.firstDlsn)}, lag ${position.lag}` : "no stored position";
      const ending = options.force && (position === undefined || position.live) ? ", ending its live session if it has one" : "";
      await confirm(`readers delete would delete reader ${options.reader} of ${options.log} (${state})${ending}`, options.yes);
      await client.deleteReader(options.log, options.reader, { force: options.force ?? false });
      await write(
        context.json
          ? `${JSON.stringify({ log: options.log, readerId: options.reader, deleted: true })}\n`
          : `deleted reader ${options.reader} of ${options.log}\n`,
      );
    });
}
