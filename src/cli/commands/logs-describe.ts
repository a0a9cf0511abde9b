import { Command } from "commander";
import { contextOf } from "../context.js";
import { logJson, logText } from "../format.js";
import { write } from "../output.js";

export function logsDescribeCommand(): Command {
  return new Command("describe")
    .alias("get")
    .summary("show a log: counts, first and last record, segments")
    .argument("<log>", "the log")
    .action(async (log: string, _options: object, command: Command) => {
      const context = contextOf(command);
      const info = await context.client.getLog(log);
      await write(context.json ? `${JSON.stringify(logJson(info))}\n` : logText(info));
    });
}
