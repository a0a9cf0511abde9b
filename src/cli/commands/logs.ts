import { Command } from "commander";
import { logsCreateCommand } from "./logs-create.js";
import { logsDeleteCommand } from "./logs-delete.js";
import { logsDescribeCommand } from "./logs-describe.js";
import { logsListCommand } from "./logs-list.js";
import { logsTruncateCommand } from "./logs-truncate.js";

export function logsCommand(): Command {
  return new Command("logs")
    .summary("list, describe, create, truncate and delete logs")
    .description("List, describe, create, truncate and delete logs.")
    .addCommand(logsListCommand())
    .addCommand(logsDescribeCommand())
    .addCommand(logsCreateCommand())
    .addCommand(logsTruncateCommand())
    .addCommand(logsDeleteCommand());
}
