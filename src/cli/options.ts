/** The options more than one command takes, each defined once with its parser. */
import { InvalidArgumentError, Option } from "commander";
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

export const logOption = (): Option => new Option("-l, --log <log>", "the log").makeOptionMandatory();

export const readerOption = (): Option => new Option("-r, --reader <id>", "the reader id").makeOptionMandatory();

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
