import { Command, Option } from "commander";
import type { StartAt } from "../../../clients/typescript/src/index.js";
import { confirm } from "../confirm.js";
import { contextOf } from "../context.js";
import { floorText, readerJson, readerText, startAtText } from "../format.js";
import { POSITION_HELP, logOption, readerOption, required, startAt, yesOption } from "../options.js";
import { write } from "../output.js";
import { logAndPosition } from "../stored-position.js";

interface SeekOptions {
  log: string;
  reader: string;
  to: StartAt;
  force?: boolean;
  yes?: boolean;
}

export function readersSeekCommand(): Command {
  return new Command("seek")
    .alias("set")
    .summary("move a reader: its next session starts at --to (inclusive)")
    .addOption(logOption())
    .addOption(readerOption())
    .addOption(required(new Option("--to <position>", POSITION_HELP).argParser(startAt)))
    .option("--force", "end the reader's live session, if it has one (otherwise a live reader is refused)")
    .addOption(yesOption())
    .action(async (options: SeekOptions, command: Command) => {
      const context = contextOf(command);
      const { client } = context;
      const { info, position: current } = await logAndPosition(client, options.log, options.reader);
      const to = startAtText(options.to);
      const plan = current
        ? `readers seek would move reader ${options.reader} of ${options.log} from floor ${floorText(current.floor, info.firstDlsn)} to ${to}` +
          (current.live && options.force ? ", ending its live session" : "")
        : `readers seek would create reader ${options.reader} of ${options.log} at ${to}`;
      await confirm(plan, options.yes);
      const moved = await client.setPosition(options.log, options.reader, options.to, { force: options.force ?? false });
      await write(context.json ? `${JSON.stringify(readerJson(moved))}\n` : readerText(moved, info.firstDlsn));
    });
}
