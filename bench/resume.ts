/** Resume latency: open a session for a reader with a stored position → first record received. */
import type { Dlogd } from "./dlogd-process.js";
import { frameReaders, lastDlsn, openSession, recordCount, type SessionHandle } from "./session-client.js";
import { deadline, within } from "./stats.js";

/** How the previous session ended and on which connection the next one opens. */
export type ResumeMode = "drained, same channel" | "drained, new channel" | "takeover of a live session";

const RESUME_BATCH = 100;
/**
 * One batch outstanding: the loop drains right after the first batch, so a larger window only had
 * the server stream records the loop then drops (~1-3k per session with 10 000, in the ~1 ms before
 * the drain arrived), and their reading, sending, receiving and garbage fell on the next samples.
 */
export const RESUME_WINDOW = RESUME_BATCH;
const STEP_TIMEOUT_MS = 10_000;

/**
 * `iterations` + 1 sessions of one reader in turn; each receives its first batch (≤ 100 records),
 * acks it and then ends as `mode` says. The first session (no stored position yet) is not counted.
 * With `across` (gateways of one shared storage), session i opens on `across[i % across.length]`
 * instead of `d`: a takeover then crosses gateways. `window`: the sessions' max_outstanding_records.
 */
export async function resumeLatency(
  d: Dlogd,
  log: string,
  readerId: string,
  mode: ResumeMode,
  iterations: number,
  timeoutMs: number,
  across: readonly Dlogd[] = [d],
  window = RESUME_WINDOW,
): Promise<number[]> {
  const expired = deadline(timeoutMs);
  const samples: number[] = [];
  let live: { session: SessionHandle; rest: Promise<unknown> } | undefined;
  try {
    for (let i = 0; i <= iterations && !expired(); i++) {
      const gateway = across[i % across.length]!;
      const channel = mode === "drained, new channel" ? gateway.newChannel() : gateway.channel;
      const readers = mode === "drained, new channel" ? frameReaders(channel) : gateway.readers;
      try {
        const t0 = performance.now();
        const session = openSession(readers, log, readerId, { maxOutstandingRecords: window, maxOutstandingBytes: 0n, maxBatchRecords: RESUME_BATCH });
        const first = await within(STEP_TIMEOUT_MS, "first record after resume", firstRecords(session));
        if (i > 0) samples.push(performance.now() - t0);
        session.ack(first);
        if (mode === "takeover of a live session") {
          // The previous session must have been fenced by this one.
          if (live) {
            const ended = await within(STEP_TIMEOUT_MS, "the fenced session's end", live.rest);
            if (!(ended instanceof Error) || !/fenced/i.test(ended.message)) {
              throw new Error(`the old session was not fenced: ${ended instanceof Error ? ended.message : "ended cleanly"}`);
            }
            live.session.close();
          }
          live = { session, rest: restOf(session) };
        } else {
          session.drain();
          await within(STEP_TIMEOUT_MS, "Drained", drained(session));
          session.close();
        }
      } finally {
        if (channel !== gateway.channel) channel.close();
      }
    }
  } finally {
    if (live) {
      live.session.drain();
      await within(STEP_TIMEOUT_MS, "final drain", live.rest).catch(() => undefined);
      live.session.close();
    }
  }
  return samples;
}

/** Waits for the first Records frame; returns its last DLSN. */
async function firstRecords(session: SessionHandle) {
  for (;;) {
    const next = await session.frames.next();
    if (next.done) throw new Error("the session ended before its first record");
    const kind = next.value.kind;
    if (kind?.$case === "records" && recordCount(kind.value) > 0) return lastDlsn(kind.value);
  }
}

async function drained(session: SessionHandle): Promise<void> {
  for (;;) {
    const next = await session.frames.next();
    if (next.done) throw new Error("the session ended without Drained");
    if (next.value.kind?.$case === "drained") return;
  }
}

/** Consumes the rest of a session in the background; resolves with the error that ended it (or undefined). */
function restOf(session: SessionHandle): Promise<unknown> {
  return (async () => {
    try {
      for (;;) {
        const next = await session.frames.next();
        if (next.done) return undefined;
      }
    } catch (error) {
      return error;
    }
  })();
}
