/**
 * What an idle reader session costs the server: dlogd's RSS before and after opening `count`
 * sessions that sit at the head of a log (nothing to deliver), each with its own reader id.
 */
import { createClient } from "nice-grpc";
import { ReaderServiceDefinition } from "../src/gen/dlog/v1/reader.js";
import type { Dlogd } from "./dlogd-process.js";
import { openSession, type SessionHandle } from "./session-client.js";
import { sleep, within } from "./stats.js";

export interface IdleSessionsResult {
  sessions: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** (after − before) / sessions. */
  kibPerSession: number;
  /** JS heap used and external (buffers) before and after, MiB: where the growth is. */
  heapBeforeMiB: number;
  heapAfterMiB: number;
  externalBeforeMiB: number;
  externalAfterMiB: number;
}

/** Sessions per HTTP/2 connection, well under dlogd's --max-sessions-per-connection (1000). */
const PER_CHANNEL = 250;

/** RSS settles a moment after a burst of work; the lowest of a few samples is the resident floor. */
async function settledRssMiB(d: Dlogd): Promise<number> {
  let low = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    await sleep(200);
    low = Math.min(low, (await d.memory()).rssMiB);
  }
  return low;
}

export async function idleSessions(d: Dlogd, log: string, count: number, timeoutMs: number): Promise<IdleSessionsResult> {
  await d.logs.createLog({ log }).catch(() => undefined);
  const sessions: SessionHandle[] = [];
  const channels = Array.from({ length: Math.ceil(count / PER_CHANNEL) }, () => d.newChannel());
  const heapBefore = (await d.loopReport()).memory; // after a full GC in dlogd
  const before = await settledRssMiB(d);
  try {
    const opened: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const readers = createClient(ReaderServiceDefinition, channels[Math.floor(i / PER_CHANNEL)]!);
      const session = openSession(readers, log, `idle-${i}`);
      sessions.push(session);
      opened.push(session.frames.next());
    }
    // Every session must really be open (its Opened frame received) before the RSS counts.
    const frames = await within(timeoutMs, `${count} idle sessions to open`, Promise.all(opened));
    for (const f of frames as Array<IteratorResult<{ kind?: { $case: string } }>>) {
      if (f.done || f.value.kind?.$case !== "opened") throw new Error("an idle session did not start with Opened");
    }
    const heapAfter = (await d.loopReport()).memory;
    const after = await settledRssMiB(d);
    return {
      sessions: count,
      rssBeforeMiB: before,
      rssAfterMiB: after,
      kibPerSession: ((after - before) * 1024) / count,
      heapBeforeMiB: heapBefore.heapUsed,
      heapAfterMiB: heapAfter.heapUsed,
      externalBeforeMiB: heapBefore.external,
      externalAfterMiB: heapAfter.external,
    };
  } finally {
    for (const s of sessions) s.close();
    for (const c of channels) c.close();
  }
}
