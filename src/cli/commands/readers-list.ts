import { Command } from "commander";
import { contextOf } from "../context.js";
import { readerJson, readersTable } from "../format.js";
import { logOption } from "../options.js";
import { write } from "../output.js";

export function readersListCommand(): Command {
  return new Command("ls")
    .alias("list")
    .summary("list the readers of a log with their floors and lag")
    .addOption(logOption())
    .action(async (options: { log: string }, command: Command) => {
      const context = contextOf(command);
      const [list, info] = await Promise.all([context.client.listReaders(options.log), context.client.getLog(options.log)]);
      await write(context.json ? list.map((reader) => `${JSON.stringify(readerJson(reader))}\n`).join("") : readersTable(list, info.firstDlsn));
    });
}
