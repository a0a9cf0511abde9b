import { DlogError } from "../errors.js";
import type { ReaderPosition } from "./position-codec.js";
import { CONFLICT_ATTEMPTS, type PositionStore } from "./position-store.js";

/** The call that claims the reader: how a refusal names it, and whether it may write over another gateway's write. */
export interface ClaimingCall {
  /** "open" (a takeover) or "set its position" (SetPosition), as a refusal words it. */
  action: "open" | "set its position";
  /** The call as the give-up error names it: "the open", "SetPosition". */
  name: string;
  /** A write through another gateway since the read is written over (TAKEOVER_FENCE, force), else the call is refused. */
  overwrite: boolean;
}

/**
 * How a takeover (an open) or a SetPosition writes a reader's position: read what is stored, decide
 * the new position from it and claim it (`PositionStore.claim`) only over what was read. `attempt`
 * gets the stored position and answers its result once its claim is durable, or undefined when the
 * claim lost to a write through another gateway in between. Then the reader is read and decided
 * again (`overwrite`), up to CONFLICT_ATTEMPTS times, or the call is refused: a session is live there.
 * `reader.known`: what the caller knows is stored (a resume grant's reservation): the first read is skipped.
 */
export async function claimReader<T>(
  positions: PositionStore,
  reader: { log: string; logId: number; readerId: string; known?: ReaderPosition | undefined },
  call: ClaimingCall,
  attempt: (stored: ReaderPosition | undefined) => Promise<T | undefined>,
): Promise<T> {
  const { log, logId, readerId, known } = reader;
  for (let round = 1; ; round++) {
    // Written first if a session that ended moments ago left its last acks waiting.
    const stored = round === 1 && known !== undefined ? known : await positions.get(logId, readerId);
    const claimed = await attempt(stored);
    if (claimed !== undefined) return claimed;
    if (!call.overwrite) throw liveElsewhere(log, readerId, await positions.get(logId, readerId), call.action);
    if (round >= CONFLICT_ATTEMPTS) throw writtenElsewhere(log, readerId, call.name);
  }
}

/** A write of the reader through another gateway came between this call's read and its write: a session is live there. */
function liveElsewhere(log: string, readerId: string, stored: ReaderPosition | undefined, action: "open" | "set its position"): DlogError {
  const epoch = String(stored?.epoch ?? 0n);
  const metadata = { log, reader_id: readerId, epoch };
  const live = `reader "${readerId}" of log "${log}" has a live session through another dlogd gateway (epoch ${epoch}; it wrote the reader while this call ran)`;
  return action === "open"
    ? new DlogError("ALREADY_EXISTS", `${live}; open with takeover TAKEOVER_FENCE to take it over`, { reason: "READER_LIVE", metadata })
    : new DlogError("FAILED_PRECONDITION", `${live}; pass force to end it and ${action}`, { reason: "READER_LIVE", metadata });
}

/** Writes through other gateways kept coming between this call's reads and writes of the reader. */
function writtenElsewhere(log: string, readerId: string, what: string): DlogError {
  return new DlogError(
    "UNAVAILABLE",
    `reader "${readerId}" of log "${log}" was written through another dlogd gateway each of the ${CONFLICT_ATTEMPTS} times ${what} tried to write it; retry the call`,
    { reason: "STORAGE_UNAVAILABLE" },
  );
}
