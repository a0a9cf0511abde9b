import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type MsgRequest, type StoredMsg } from "@nats-io/jetstream";
import type { EntryCursor, StoredEntry } from "./storage.js";
import type { AnswerWaiters } from "./nats-answer-waiters.js";
import { compare, entryOf } from "./nats-entry-id.js";
import { retrying } from "./nats-retry.js";

/** A cursor's batch read stops past this many bytes (entries of 1000 records are ~100 KiB each). */
const READ_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Reads of the entry stream: a log's subject holds its entries in DLSN order, so a DLSN is found by
 * a binary search over stream sequences and a cursor reads the subject onwards, in batches.
 */
export class NatsEntryReader {
  private readonly jsm: JetStreamManager;
  private readonly stream: string;
  private readonly prefix: string;
  /** The stream answers direct gets (dlogd creates it so): cursors read in batches. */
  private readonly direct: boolean;
  private readonly retry: { attemptMs: number; totalMs: number };
  private readonly answers: AnswerWaiters;

  constructor(parts: {
    jsm: JetStreamManager;
    stream: string;
    prefix: string;
    direct: boolean;
    retry: { attemptMs: number; totalMs: number };
    answers: AnswerWaiters;
  }) {
    this.jsm = parts.jsm;
    this.stream = parts.stream;
    this.prefix = parts.prefix;
    this.direct = parts.direct;
    this.retry = parts.retry;
    this.answers = parts.answers;
  }

  /** The subject of one log's entries, `P.e.<logId>`. */
  subject(logId: number): string {
    return `${this.prefix}.e.${logId}`;
  }

  /** The subject's last stream sequence, asked of the stream leader; 0: the subject holds nothing. */
  async lastSeqOf(logId: number): Promise<number> {
    const last = await retrying(this.retry, () =>
      this.answers.untilAnswerLost(this.stream, this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(logId) })),
    );
    return last?.seq ?? 0;
  }

  /** The first message on `subject` at or after stream sequence `seq`, from the stream leader. */
  nextMessage(subject: string, seq: number): Promise<StoredMsg | null> {
    // The server takes next_by_subj in a plain (leader-answered) get; the client's type names only seq and last_by_subj.
    const query = { seq, next_by_subj: subject } as unknown as MsgRequest;
    return retrying(this.retry, () => this.answers.untilAnswerLost(this.stream, this.jsm.streams.getMessage(this.stream, query)));
  }

  /**
   * The first message of the log at or after (segment, entry), up to stream sequence `upTo`: a
   * binary search over stream sequences, since a subject's messages are in DLSN order.
   */
  async seek(logId: number, segment: bigint, entry: bigint, upTo: number): Promise<StoredMsg | null> {
    const subject = this.subject(logId);
    const first = await this.nextMessage(subject, 1);
    if (!first || first.seq > upTo) return null;
    const atOrAfter = (msg: StoredMsg): boolean => {
      const at = entryOf(msg);
      return compare(at.segment, at.entry, segment, entry) >= 0;
    };
    if (atOrAfter(first)) return first;
    // lo: a sequence whose next message is before the target; hi: one whose next message is at or after it (or none).
    let lo = first.seq;
    let hi = upTo + 1;
    let found: StoredMsg | null = null;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const msg = await this.nextMessage(subject, mid);
      if (!msg || msg.seq > upTo || atOrAfter(msg)) {
        hi = mid;
        found = msg && msg.seq <= upTo ? msg : null;
      } else {
        lo = msg.seq;
      }
    }
    return found;
  }

  /** A cursor from (segment, entry) on, bounded by `committedTail()` as it is when the cursor starts. */
  openCursor(logId: number, segment: bigint, entry: bigint, committedTail: () => number): EntryCursor {
    const subject = this.subject(logId);
    let next: number | undefined;
    let upTo = 0;
    let done = false;
    return {
      next: async (max: number): Promise<StoredEntry[]> => {
        if (done) return [];
        if (next === undefined) {
          // The committed tail when the cursor starts: entries above it are not committed (yet).
          upTo = committedTail();
          const first = await this.seek(logId, segment, entry, upTo);
          if (!first) {
            done = true;
            return [];
          }
          next = first.seq;
        }
        const out: StoredEntry[] = [];
        for (const msg of await this.readFrom(subject, next, max)) {
          if (msg.seq > upTo) break;
          out.push({ ...entryOf(msg), value: Buffer.from(msg.data) });
          next = msg.seq + 1;
        }
        if (out.length === 0) done = true;
        return out;
      },
      close: async () => {
        done = true;
      },
    };
  }

  /**
   * Up to `max` messages of `subject` from stream sequence `seq` on: one direct batch get (any
   * replica may answer; one that lags answers with fewer, as replicas apply the stream in order),
   * or message by message from the leader on a stream made without direct gets.
   */
  private async readFrom(subject: string, seq: number, max: number): Promise<StoredMsg[]> {
    const out: StoredMsg[] = [];
    if (!this.direct) {
      for (
        let msg = await this.nextMessage(subject, seq);
        msg && out.length < max;
        msg = out.length < max ? await this.nextMessage(subject, msg.seq + 1) : null
      )
        out.push(msg);
      return out;
    }
    return retrying(this.retry, async () => {
      out.length = 0;
      try {
        for await (const msg of await this.jsm.direct.getBatch(this.stream, { seq, next_by_subj: subject, batch: max, max_bytes: READ_BATCH_BYTES }))
          out.push(msg);
      } catch (error) {
        if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.NoMessageFound) && !/no message found|not found/i.test(String(error)))
          throw error;
      }
      return out;
    });
  }
}
