import { DlogError } from "./errors.js";

export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;
const NAME_RULE = "1-200 characters of A-Z a-z 0-9 . _ -";

/** Log names, reader ids and producer ids share one charset (SPEC §1). */
export function validateName(kind: "log" | "reader_id" | "producer_id", name: string | undefined): string {
  if (name === undefined || name === "") {
    throw new DlogError("INVALID_ARGUMENT", `${kind} is required (${NAME_RULE})`, { reason: "INVALID_NAME", metadata: { field: kind, value: "" } });
  }
  if (!NAME_PATTERN.test(name)) {
    const shown = name.length > 60 ? `${name.slice(0, 60)}…` : name;
    throw new DlogError("INVALID_ARGUMENT", `invalid ${kind} "${shown}": must be ${NAME_RULE}`, {
      reason: "INVALID_NAME",
      metadata: { field: kind, value: shown },
    });
  }
  return name;
}
