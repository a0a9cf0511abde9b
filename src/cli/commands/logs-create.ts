import { Command } from "commander";
import { contextOf } from "../context.js";
import { logJson, logText } from "../format.js";
import { write } from "../output.js";

export function logsCreateCommand(): Command {
  return new Command("create")
    .summary("create an empty log (appends create logs too, unless dlogd runs --no-auto-create)")
    .argument("<log>", "the log")
    .action(async (log: string, _options: object, command: Command) => {
      const context = contextOf(command);
      const info = await context.client.createLog(log);
      await write(context.json ? `${JSON.stringify(logJson(info))}\n` : logText(info));
    });
}
