/** The options more than one command takes, each defined once with its parser. */
import { type Command, InvalidArgumentError, Option } from "commander";
import { DLSN, type StartAt, parseStartAt } from "../../clients/typescript/src/index.js";
import { parseDuration } from "../duration.js";

export const POSITION_HELP = "earliest, latest, a DLSN (1/42/0 or DistributedLog's base64), txid:N or time:ISO-DATE";

/** commander's argParser: a message without the flag (commander names the flag and the value). */
function parser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message.replace(/^[^:]*: "[^"]*" is not valid; /, ""));
    }
  };
}

export const positiveInteger = parser((text: string): number => {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) throw new Error("expected a whole number >= 1");
  return Number(text);
});

/** The same syntax as dlogd's duration flags (`--ack-flush-interval 100ms`). */
export const duration = parser((text: string): number => parseDuration(text, "duration"));

export const startAt = parser((text: string): StartAt => parseStartAt(text));

export const dlsn = parser((text: string): DLSN => DLSN.parse(text));

const REQUIRED = new WeakSet<Option>();

/**
 * Marks an option required. Checked by `checkRequired` just before the action
 * runs, after unknown options: a typo of a required flag (`--reder`) then gets
 * "did you mean --reader?" rather than "--reader not specified".
 */
export function required(option: Option): Option {
  REQUIRED.add(option);
  option.description += " (required)";
  return option;
}

/** The preAction hook behind `required`. */
export function checkRequired(_hooked: Command, command: Command): void {
  for (const option of command.options) {
    if (REQUIRED.has(option) && command.getOptionValue(option.attributeName()) === undefined) {
      command.error(`required option '${option.flags}' not specified`, { code: "commander.missingMandatoryOptionValue", exitCode: 2 });
    }
  }
}

export const logOption = (): Option => required(new Option("-l, --log <log>", "the log"));

export const readerOption = (): Option => required(new Option("-r, --reader <id>", "the reader id"));

export const maxOption = (what: string): Option => new Option("-n, --max <count>", what).argParser(positiveInteger);

export const fromOption = (what: string): Option => new Option("--from <position>", `${what}: ${POSITION_HELP}`).argParser(startAt);

export type PayloadEncoding = "text" | "base64" | "hex";

export const payloadOption = (): Option =>
  new Option("--payload <encoding>", "how payloads are printed (json default: text when valid UTF-8, else base64, named in the object)").choices([
    "text",
    "base64",
    "hex",
  ]);

export const yesOption = (): Option => new Option("-y, --yes", "do it without asking (required when stdin is not a terminal)");
