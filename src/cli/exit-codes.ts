import { CommanderError } from "commander";
import { DlogError, Status } from "../../clients/typescript/src/index.js";
import { DlogError as CoreError } from "../errors.js";

/** dlog's exit codes: the same for every command, listed in `dlog --help`. */
export const EXIT = {
  ok: 0,
  /** The server refused (unknown log, live reader, bad position…), or the person said no. */
  refused: 1,
  /** A mistake on the command line; nothing was sent. */
  usage: 2,
  /** dlogd could not be reached or did not answer in time. */
  unreachable: 3,
  /** Not authenticated, or the token may not do this. */
  denied: 4,
  /** A second Ctrl-C gave up on the drain. */
  interrupted: 130,
} as const;

export const EXIT_CODES_HELP =
  "Exit codes: 0 ok, 1 refused by the server (or not confirmed), 2 bad usage, 3 server unreachable, 4 not authenticated or not permitted.";

/** A mistake on the command line that the parser could not see: exit 2 with the message. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The person answered no (or nothing) to "go ahead?": nothing was done. */
export class NotConfirmedError extends Error {
  override readonly name = "NotConfirmedError";
}

const CODE_NAMES = Status as unknown as Record<number, string>;

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ").trim();

/**
 * commander's "error: unknown command 'tial'\n(Did you mean tail?)" as one line,
 * pointing at the help of the command that was being parsed.
 */
function usageLine(error: CommanderError, commandPath: string): string {
  const [first = "", ...rest] = error.message.replace(/^error: /, "").split("\n");
  const suggestion = /^\(Did you mean (.*)\?\)$/.exec(rest.join(" ").trim())?.[1];
  return `${first.replace(/\.$/, "").replace(/ is invalid\. /, " is invalid: ")}${suggestion ? ` (did you mean ${suggestion}?)` : ""}; see ${commandPath} --help`;
}

/** Why a call failed, in a few words: grpc-js's "No connection established. Last error: Error: connect ECONNREFUSED …" → "connect ECONNREFUSED …". */
export function causeOf(error: unknown): string {
  if (!(error instanceof DlogError)) return oneLine((error as Error)?.message ?? String(error));
  const details = oneLine(error.details);
  return /Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/.exec(details)?.[1] ?? details;
}

/** One line for a person, and the exit code. */
export function describeFailure(error: unknown, where: { address: string | undefined; commandPath: string }): { message: string; code: number } {
  const address = where.address ?? "dlogd";
  if (error instanceof CommanderError) return { message: usageLine(error, where.commandPath), code: EXIT.usage };
  if (error instanceof UsageError) return { message: error.message, code: EXIT.usage };
  if (error instanceof NotConfirmedError) return { message: error.message, code: EXIT.refused };
  // The client validates before sending (a bad DLSN, name or option): a usage mistake.
  if (error instanceof DlogError && error.local) return { message: oneLine(error.details), code: EXIT.usage };
  if (error instanceof CoreError) return { message: oneLine(error.message), code: EXIT.usage };
  if (error instanceof DlogError) {
    const name = CODE_NAMES[error.code] ?? String(error.code);
    const details = oneLine(error.details);
    switch (error.code) {
      case Status.UNAVAILABLE:
        return { message: `cannot reach dlogd at ${address}: ${causeOf(error)} (${name})`, code: EXIT.unreachable };
      case Status.DEADLINE_EXCEEDED:
        return { message: `dlogd at ${address} did not answer in time: ${details} (${name})`, code: EXIT.unreachable };
      case Status.UNAUTHENTICATED:
      case Status.PERMISSION_DENIED:
        return { message: `${details} (${name})`, code: EXIT.denied };
      default:
        return { message: `${details} (${name})`, code: EXIT.refused };
    }
  }
  return { message: oneLine((error as Error)?.message ?? String(error)), code: EXIT.refused };
}
