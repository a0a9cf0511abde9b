/**
 * The clients of the crash cycles and the load test: appenders that remember every answer, and
 * readers that remember every delivery and which of their acks a status reported durable — so
 * after any kill the test can say what must be in the log and what a reader may see again.
 */
import assert from "node:assert/strict";
import { ClientError, Status } from "nice-grpc";
import type { DLSN as WireDLSN, Record as WireRecord } from "../../src/gen/dlog/v1/common.js";
import type { AppendRequest } from "../../src/gen/dlog/v1/log.js";
import { type DeepPartial, type FlowLimits, type Open, type Opened, ResumeSource, Takeover } from "../../src/gen/dlog/v1/reader.js";
import type { Clients } from "../helpers/dlogd.js";
import { TestSession } from "../helpers/session.js";
import { type Rng, compare, key, readLog, sleep } from "./harness.js";

/**
 * How long an open may wait for its Opened: under the load test's 1000 sessions on a shared
 * 2-core machine an open has taken over 5 s (the default frame wait). How long opens take is a
 * figure the load test reports, not something a test asserts.
 */
const OPEN_TIMEOUT_MS = 30_000;

/** Set before the server is killed (or the run stops): from then on a failed call is expected. */
export interface Stop {
  killed: boolean;
  /** Appenders finish their current call and return (the load test's end, no kill). */
  stopped?: boolean;
}

/** Every append the server answered: payload → DLSN, and each appender's payloads in answer order. */
export class Ledger {
  readonly answered = new Map<string, string>();
  readonly runs: string[][] = [];

  add(run: string[], payload: string, dlsn: WireDLSN | undefined): void {
    assert.ok(dlsn, `append of ${payload} answered without a DLSN`);
    const at = key(dlsn);
    assert.ok(!this.answered.has(payload), `${payload} answered twice`);
    this.answered.set(payload, at);
    run.push(payload);
  }
}

/** Unary appends of 1..maxBatch records, one call at a time, with pauses of 2..maxPauseMs (a bulk producer). */
export async function bulkAppender(
  clients: Clients,
  log: string,
  ledger: Ledger,
  prefix: string,
  rng: Rng,
  stop: Stop,
  { maxBatch = 100, maxPauseMs = 20 }: { maxBatch?: number; maxPauseMs?: number } = {},
): Promise<void> {
  const run: string[] = [];
  ledger.runs.push(run);
  for (let call = 0; !stop.killed && !stop.stopped; call++) {
    const payloads = Array.from({ length: rng.int(1, maxBatch) }, (_, slot) => `${prefix}.${call}.${slot}`);
    let answer;
    try {
      answer = await clients.logs.append({ log, records: payloads.map((payload) => ({ payload: Buffer.from(payload) })) });
    } catch (error) {
      if (stop.killed) return; // the server is gone
      throw error;
    }
    assert.equal(answer.dlsns.length, payloads.length);
    for (const [i, dlsn] of answer.dlsns.entries()) ledger.add(run, payloads[i]!, dlsn);
    await sleep(rng.int(2, maxPauseMs));
  }
}

/** One AppendStream with up to `window` single-record appends in flight (a pipelined producer). */
export async function pipelinedAppender(clients: Clients, log: string, ledger: Ledger, prefix: string, stop: Stop, window = 16): Promise<void> {
  const run: string[] = [];
  ledger.runs.push(run);
  let sent = 0;
  let answered = 0;
  let wake: (() => void) | undefined;
  const payloadOf = (n: number): string => `${prefix}.${n}`;
  async function* requests(): AsyncGenerator<DeepPartial<AppendRequest>> {
    while (!stop.killed && !stop.stopped) {
      if (sent - answered >= window) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      yield { log, records: [{ payload: Buffer.from(payloadOf(sent)) }], requestId: BigInt(sent) };
      sent++;
    }
  }
  try {
    for await (const answer of clients.logs.appendStream(requests())) {
      assert.equal(answer.error, undefined, `append ${answered} refused`);
      assert.equal(answer.requestId, BigInt(answered), "answers come in request order");
      ledger.add(run, payloadOf(answered), answer.dlsns[0]);
      answered++;
      wake?.();
    }
  } catch (error) {
    if (stop.killed) return; // the server is gone
    throw error;
  }
}

/** Lets the appenders finish their calls in flight and waits for them. */
export async function stopAppenders(stop: Stop, appenders: Array<Promise<void>>): Promise<void> {
  stop.stopped = true;
  await Promise.all(appenders);
}

/**
 * Reads the whole log and checks it against the ledger: DLSNs strictly increasing, no payload
 * stored twice, every answered append at the DLSN it was answered with, each appender's appends
 * in the order they were answered. Returns the stored records and how many answered appends
 * are missing (also asserted: the figure is for the report).
 */
export async function verifyLog(clients: Clients, log: string, ledger: Ledger): Promise<{ stored: Array<{ id: string; dlsn: WireDLSN }>; lost: number }> {
  const stored = await readLog(clients, log);
  const indexOf = new Map<string, number>();
  for (const [i, record] of stored.entries()) {
    if (i > 0) assert.ok(compare(stored[i - 1]!.dlsn, record.dlsn) < 0, `DLSN order at ${key(record.dlsn)}`);
    assert.ok(!indexOf.has(record.id), `${record.id} is stored twice`);
    indexOf.set(record.id, i);
  }
  let lost = 0;
  const misplaced: string[] = [];
  for (const [payload, at] of ledger.answered) {
    const i = indexOf.get(payload);
    if (i === undefined) lost++;
    else if (key(stored[i]!.dlsn) !== at) misplaced.push(`${payload} answered at ${at}, stored at ${key(stored[i]!.dlsn)}`);
  }
  assert.equal(lost, 0, `${lost} of ${ledger.answered.size} answered appends are missing`);
  assert.deepEqual(misplaced.slice(0, 5), [], `${misplaced.length} answered appends stored elsewhere`);
  for (const run of ledger.runs) {
    for (let i = 1; i < run.length; i++) {
      assert.ok(indexOf.get(run[i - 1]!)! < indexOf.get(run[i]!)!, `${run[i]} is stored before ${run[i - 1]}, which was answered first`);
    }
  }
  return { stored, lost };
}

/**
 * How a reader acks: everything up to the last record now and then; each DLSN individually,
 * held back and shuffled; or individually with some records nacked first (acked when they come again).
 */
export type AckStyle = "cumulative" | "individual" | "nack";

/** One reader across sessions and server restarts, with everything it was delivered. */
export class LedgerReader {
  /** DLSN key → times received (any session). */
  readonly delivered = new Map<string, number>();
  /** Delivered records no ack message reported durable covers: all that the crash bound lets come again. */
  readonly pending = new Map<string, WireDLSN>();
  /** The highest durable position seen anywhere (Status, Opened, Drained, GetPosition): it never goes back. */
  private durableHigh: WireDLSN | undefined;
  /** Records received again in a later session (all checked against `pending`). */
  replays = 0;
  /** Since the last restart: records pending at the kill, and how many of them came again. */
  crashPending = new Set<string>();
  crashReplays = 0;
  /** The most records a fenced session received after its successor's Opened (in flight), and takeovers done. */
  fencedInFlight = 0;
  takeovers = 0;
  private session: TestSession | undefined;
  private loop: Promise<Status | undefined> | undefined;
  private failure: unknown;
  /** A takeover is under way: the old session may end ABORTED. */
  private fencing = false;
  /** The successor's Opened arrived: what the old session still receives was in flight. */
  private fenced = false;
  private receivedAfterFence = 0;
  private finishing = false;

  constructor(
    readonly log: string,
    readonly id: string,
    readonly style: AckStyle,
    private readonly rng: Rng,
    readonly flow: DeepPartial<FlowLimits> = { maxOutstandingRecords: 256, maxBatchRecords: 64 },
    /** The idle pause after which a reader acks what it holds back. */
    private readonly idleMs = 200,
  ) {}

  /** Notes a durable position; fails if it is behind one seen before. */
  noteDurable(where: string, floor: WireDLSN | undefined): void {
    assert.ok(floor, `${this.id}: ${where} without a durable floor`);
    if (this.durableHigh)
      assert.ok(compare(floor, this.durableHigh) >= 0, `${this.id}: durable position went back at ${where}: ${key(this.durableHigh)} → ${key(floor)}`);
    this.durableHigh = floor;
    // Everything up to the durable floor is acked on disk: it can never come again.
    for (const [k, dlsn] of this.pending) if (compare(dlsn, floor) <= 0) this.pending.delete(k);
  }

  /** The server died: what may come again is what was pending then. */
  crashed(): void {
    this.crashPending = new Set(this.pending.keys());
    this.crashReplays = 0;
  }

  throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Opens a session (FENCE) and starts reading; after a restart the stored position must not be behind. */
  async start(clients: Clients, stop: Stop, open: DeepPartial<Open> = {}): Promise<Opened> {
    const { session, opened } = await TestSession.open(clients, { log: this.log, readerId: this.id, flow: this.flow, ...open }, OPEN_TIMEOUT_MS);
    if (opened.source === ResumeSource.RESUME_SOURCE_STORED) this.noteDurable("Opened", opened.resumeAfter);
    this.session = session;
    this.loop = this.read(session, stop);
    this.loop.catch((error: unknown) => (this.failure ??= error));
    return opened;
  }

  /**
   * A second session for this reader while the first is live: REJECT is refused, FENCE takes it
   * over at once and the old session ends ABORTED, having received at most what was in flight.
   */
  async takeOver(clients: Clients, stop: Stop): Promise<void> {
    const rejected = await TestSession.open(clients, { log: this.log, readerId: this.id, takeover: Takeover.TAKEOVER_REJECT }).then(
      () => assert.fail(`${this.id}: a second session opened beside a live one`),
      (error: unknown) => error,
    );
    assert.ok(rejected instanceof ClientError && rejected.code === Status.ALREADY_EXISTS, `${this.id}: REJECT beside a live session: ${String(rejected)}`);
    const old = this.loop!;
    this.fencing = true;
    const { session, opened } = await TestSession.open(clients, { log: this.log, readerId: this.id, flow: this.flow });
    this.fenced = true;
    this.receivedAfterFence = 0;
    const ended = await old;
    assert.equal(ended, Status.ABORTED, `${this.id}: the fenced session ended with ${ended === undefined ? "OK" : Status[ended]}`);
    this.throwIfFailed();
    this.fencedInFlight = Math.max(this.fencedInFlight, this.receivedAfterFence);
    assert.ok(
      this.receivedAfterFence <= this.flow.maxOutstandingRecords!,
      `${this.id}: ${this.receivedAfterFence} records reached the fenced session, more than its window`,
    );
    this.takeovers++;
    // The old session's frames are all read before the new one's: durable positions are seen in order.
    this.noteDurable("Opened after takeover", opened.resumeAfter);
    this.session = session;
    this.fencing = false;
    this.fenced = false;
    this.loop = this.read(session, stop);
    this.loop.catch((error: unknown) => (this.failure ??= error));
  }

  /** Ends the reading loop after the server was killed (or the session otherwise ended). */
  async ended(): Promise<void> {
    await this.loop;
    this.throwIfFailed();
  }

  /** Acks everything, waits until a status reports it all durable, drains; the Drained floor must not be behind. */
  async finish(timeoutMs = 30_000): Promise<void> {
    this.finishing = true;
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0) {
      this.throwIfFailed();
      assert.ok(Date.now() < deadline, `${this.id}: ${this.pending.size} delivered records never reported durably acked`);
      await sleep(20);
    }
    this.session!.drain();
    assert.equal(await this.loop, undefined, `${this.id}: the drained session ends OK`);
    this.throwIfFailed();
  }

  private async read(session: TestSession, stop: Stop): Promise<Status | undefined> {
    /** This session's ack messages, numbered as the server numbers them (from 1, in order). */
    const messages: Array<{ upTo?: WireDLSN; dlsns?: WireDLSN[] }> = [];
    let covered = 0;
    const seenHere = new Set<string>();
    const nacked = new Set<string>();
    let held: WireDLSN[] = [];
    let unackedCumulative: WireDLSN | undefined;
    let threshold = this.rng.int(1, 150);
    const cover = (upTo: number): void => {
      for (; covered < upTo; covered++) {
        const message = messages[covered]!;
        if (message.upTo) this.noteCovered(message.upTo);
        for (const dlsn of message.dlsns ?? []) this.pending.delete(key(dlsn));
      }
    };
    const ack = (dlsns: WireDLSN[]): void => {
      messages.push({ dlsns });
      session.ack(dlsns);
    };
    const flushHeld = (): void => {
      if (unackedCumulative) {
        messages.push({ upTo: unackedCumulative });
        session.ackUpTo(unackedCumulative);
        unackedCumulative = undefined;
      }
      if (held.length === 0) return;
      this.rng.shuffle(held);
      const parts = this.rng.int(1, 3);
      const size = Math.ceil(held.length / parts);
      for (let i = 0; i < held.length; i += size) ack(held.slice(i, i + size));
      held = [];
      threshold = this.rng.int(1, 150);
    };
    for (;;) {
      let frame;
      try {
        frame = await session.next(this.idleMs);
      } catch (error) {
        if (error instanceof ClientError) {
          if (stop.killed || this.fencing) return error.code;
          throw new Error(`${this.id}: the session failed: ${Status[error.code]} ${error.details}`);
        }
        // Nothing for a while: ack what is held back, so delivery never waits on this reader.
        if (!stop.killed) flushHeld();
        continue;
      }
      if (frame === undefined) return undefined;
      if (frame.$case === "status") {
        this.noteDurable("Status", frame.value.durableFloor);
        const durable = Number(frame.value.acksDurable);
        assert.ok(durable >= covered, `${this.id}: acks_durable went back (${covered} → ${durable})`);
        cover(durable);
        continue;
      }
      if (frame.$case === "drained") {
        this.noteDurable("Drained", frame.value.durableFloor);
        assert.equal(Number(frame.value.acksDurable), messages.length, `${this.id}: Drained covers every ack message`);
        cover(messages.length);
        continue;
      }
      if (frame.$case !== "records") continue;
      if (this.fenced) this.receivedAfterFence += frame.value.records.length;
      const toAck = this.take(frame.value.records, seenHere, nacked, session);
      if (this.fencing || stop.killed) continue; // a fenced session's acks would be refused anyway
      switch (this.style) {
        case "cumulative":
          unackedCumulative = toAck.at(-1) ?? unackedCumulative;
          if (this.finishing || this.rng.chance(0.6)) flushHeld();
          break;
        case "individual":
          held.push(...toAck);
          if (this.finishing || held.length >= threshold) flushHeld();
          break;
        case "nack":
          if (toAck.length > 0) ack([...toAck].reverse());
          break;
      }
    }
  }

  /** Books a batch; returns the DLSNs to ack (for the nack style, without the ones it nacks now). */
  private take(records: WireRecord[], seenHere: Set<string>, nacked: Set<string>, session: TestSession): WireDLSN[] {
    const toAck: WireDLSN[] = [];
    const toNack: WireDLSN[] = [];
    for (const record of records) {
      const dlsn = record.dlsn!;
      const k = key(dlsn);
      const before = this.delivered.get(k) ?? 0;
      if (seenHere.has(k)) {
        // Within one session only a nacked record comes twice.
        assert.ok(nacked.has(k), `${this.id}: ${k} delivered twice in one session without a nack`);
        assert.ok(record.attempt >= 2, `${this.id}: nacked ${k} came again with attempt ${record.attempt}`);
      } else if (before > 0) {
        assert.ok(this.pending.has(k), `${this.id}: ${k} came again though an ack message covering it was reported durable`);
        assert.ok(record.attempt >= 2, `${this.id}: ${k} came again in a later session with attempt ${record.attempt}`);
        this.replays++;
        if (this.crashPending.delete(k)) this.crashReplays++;
      }
      seenHere.add(k);
      this.delivered.set(k, before + 1);
      this.pending.set(k, dlsn);
      if (this.style === "nack" && !nacked.has(k) && !this.finishing && this.rng.chance(0.05)) {
        nacked.add(k);
        toNack.push(dlsn);
      } else {
        toAck.push(dlsn);
      }
    }
    if (toNack.length > 0 && !this.fencing) session.nack(toNack);
    return toAck;
  }

  private noteCovered(upTo: WireDLSN): void {
    for (const [k, dlsn] of this.pending) if (compare(dlsn, upTo) <= 0) this.pending.delete(k);
  }

  /** Fails unless every one of `records` was delivered to this reader. */
  assertDelivered(records: ReadonlyArray<{ dlsn: WireDLSN }>): void {
    const missing = records.filter((record) => !this.delivered.has(key(record.dlsn)));
    assert.deepEqual(
      missing.slice(0, 5).map((record) => key(record.dlsn)),
      [],
      `${this.id}: ${missing.length} of ${records.length} records never delivered`,
    );
  }
}
