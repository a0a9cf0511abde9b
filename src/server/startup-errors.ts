import { DlogError } from "../errors.js";

/** What the OS said about a bind, in the words an operator acts on. */
const BIND_FAILURES: Record<string, string> = {
  EADDRINUSE: "address in use",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "address not available on this host",
  ENOTFOUND: "host name does not resolve",
  EAI_AGAIN: "host name does not resolve",
};

/**
 * One line for a failed bind (`--listen 127.0.0.1:7070: address in use`) instead of a stack trace.
 * grpc-js folds the OS error into its message ("No address added ... [listen EADDRINUSE: ...]"),
 * node:http puts it in `code`: both are read.
 */
export function bindError(flag: string, value: string, error: unknown): DlogError {
  const code = (error as { code?: unknown }).code;
  const text = error instanceof Error ? error.message : String(error);
  const found = typeof code === "string" && code in BIND_FAILURES ? code : Object.keys(BIND_FAILURES).find((name) => text.includes(name));
  const why = found === undefined ? text : BIND_FAILURES[found]!;
  return new DlogError("UNAVAILABLE", `--${flag} ${value}: ${why}`, { cause: error });
}
