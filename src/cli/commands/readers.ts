import { Command } from "commander";
import { readersDeleteCommand } from "./readers-delete.js";
import { readersImportCommand } from "./readers-import.js";
import { readersListCommand } from "./readers-list.js";
import { readersPositionCommand } from "./readers-position.js";
import { readersSeekCommand } from "./readers-seek.js";

export function readersCommand(): Command {
  return new Command("readers")
    .summary("list readers, show, move and delete their positions, import DistributedLog offsets")
    .description("List the readers of a log; show, move and delete their stored positions; import positions from a DistributedLog tutorial offset store.")
    .addCommand(readersListCommand())
    .addCommand(readersPositionCommand())
    .addCommand(readersSeekCommand())
    .addCommand(readersDeleteCommand())
    .addCommand(readersImportCommand());
}
