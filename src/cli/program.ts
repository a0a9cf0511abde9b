/** The `dlog` command tree (commander), apart from running it: tests and the doc check read it too. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { appendCommand } from "./commands/append.js";
import { logsCommand } from "./commands/logs.js";
import { readCommand } from "./commands/read.js";
import { readersCommand } from "./commands/readers.js";
import { tailCommand } from "./commands/tail.js";
import { addGlobalOptions } from "./context.js";
import { EXIT_CODES_HELP } from "./exit-codes.js";
import { POSITION_HELP, checkRequired } from "./options.js";

const { version } = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

const FIRST_STEPS = `
Examples:
  dlog append --log demo hello world        two records, one entry
  seq 1000 | dlog append --log demo         one record per line
  dlog tail --log demo --reader me          print and ack; Ctrl-C drains; run again to go on
  dlog read --log demo --from 1/0/0 --max 5
  dlog readers ls --log demo
  dlog tail --help                          every command has its own help

POS: ${POSITION_HELP}.
${EXIT_CODES_HELP}`;

/** "dlog logs truncate", for "see … --help". */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names.join(" ");
}

let parsing: Command;

/** The command being parsed (the root until a subcommand is chosen). */
export function parsingCommand(): Command {
  return parsing;
}

export function program(): Command {
  const root = addGlobalOptions(new Command("dlog"))
    .description("Append to, read and tail dlog logs; manage logs and readers.")
    .version(version, "-V, --version", "print the version")
    .helpOption("-h, --help", "print help (each command has its own: dlog tail --help)")
    .addHelpText("after", FIRST_STEPS)
    .addCommand(appendCommand())
    .addCommand(tailCommand())
    .addCommand(readCommand())
    .addCommand(logsCommand())
    .addCommand(readersCommand());
  // Settings every command shares (addCommand does not pass them down).
  const configure = (command: Command): void => {
    command
      .exitOverride()
      .configureOutput({ outputError: () => undefined }) // main prints errors, as one line
      .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
      .showSuggestionAfterError(true)
      .allowExcessArguments(false)
      .hook("preSubcommand", (_command, subcommand) => {
        parsing = subcommand;
      });
    if (command !== root) command.helpOption("-h, --help", "print this help");
    for (const sub of command.commands) configure(sub);
  };
  configure(root);
  root.hook("preAction", checkRequired);
  parsing = root;
  return root;
}
