import { Command } from "commander";
import { contextOf } from "../context.js";
import { logJson, logsTable } from "../format.js";
import { write } from "../output.js";

export function logsListCommand(): Command {
  return new Command("ls")
    .alias("list")
    .summary("list logs")
    .option("--prefix <prefix>", "only logs whose name starts with it")
    .action(async (options: { prefix?: string }, command: Command) => {
      const context = contextOf(command);
      const infos = await context.client.listLogs(options.prefix ?? "");
      await write(context.json ? infos.map((info) => `${JSON.stringify(logJson(info))}\n`).join("") : logsTable(infos));
    });
}
