import { Command } from "commander";
import { contextOf } from "../context.js";
import { readerJson, readerText } from "../format.js";
import { logOption, readerOption } from "../options.js";
import { write } from "../output.js";

export function readersPositionCommand(): Command {
  return new Command("position")
    .alias("get")
    .summary("show a reader's stored position: floor, holes, lag, live session")
    .addOption(logOption())
    .addOption(readerOption())
    .action(async (options: { log: string; reader: string }, command: Command) => {
      const context = contextOf(command);
      const [position, info] = await Promise.all([context.client.getPosition(options.log, options.reader), context.client.getLog(options.log)]);
      await write(context.json ? `${JSON.stringify(readerJson(position))}\n` : readerText(position, info.firstDlsn));
    });
}
