import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { AnswerWaiters } from "./nats-answer-waiters.js";
import { isNoResponders, isWrongLastSequence, retrying } from "./nats-retry.js";

/** A KV key's last entry, as a bucket's stream leader has it. */
export interface LeaderEntry {
  operation: string;
  revision: number;
  value: Uint8Array;
  string(): string;
}

/**
 * One KV bucket of the layout (`P_meta`, `P_positions`) and what every decision on it rests on:
 * reads at the bucket's stream leader, compare-and-set writes retried through an election, and the
 * listing and removal of keys.
 */
export class NatsBucket {
  readonly kv: KV;
  /** The bucket's name, `P_meta` or `P_positions`. */
  readonly name: string;
  /** The stream behind the bucket. */
  readonly stream: string;
  private readonly jsm: JetStreamManager;
  private readonly answers: AnswerWaiters;
  private readonly retry: { attemptMs: number; totalMs: number };

  constructor(parts: { kv: KV; name: string; jsm: JetStreamManager; answers: AnswerWaiters; retry: { attemptMs: number; totalMs: number } }) {
    this.kv = parts.kv;
    this.name = parts.name;
    this.stream = `KV_${parts.name}`;
    this.jsm = parts.jsm;
    this.answers = parts.answers;
    this.retry = parts.retry;
  }

  /**
   * A KV key's last entry as the bucket's stream leader has it. `kv.get` is a direct get, which a
   * lagging replica may answer: a reader's position read there would resume a session from an old
   * floor and fail its first CAS; what a CAS is based on is read here.
   */
  async leaderGet(key: string): Promise<LeaderEntry | null> {
    const msg = await this.answers.untilAnswerLost(this.stream, this.jsm.streams.getMessage(this.stream, { last_by_subj: `$KV.${this.name}.${key}` }));
    if (!msg) return null;
    const value = msg.data;
    return { operation: msg.header?.get("KV-Operation") || "PUT", revision: msg.seq, value, string: () => Buffer.from(value).toString("utf8") };
  }

  /**
   * A create (revision 0) or compare-and-set update, retried through an election. A retry whose
   * CAS fails may have lost only the answer of the attempt before: the value stored says which,
   * unless another gateway may write the same value (`unique: false`): the CAS failure stands.
   */
  async casPut(key: string, value: Buffer, revision: number, { unique = true } = {}): Promise<number> {
    let mayHaveLanded = false;
    return retrying(this.retry, async () => {
      try {
        return await this.answers.untilAnswerLost(this.stream, revision === 0 ? this.kv.create(key, value) : this.kv.update(key, value, revision));
      } catch (error) {
        if (mayHaveLanded && unique && isWrongLastSequence(error)) {
          const now = await this.leaderGet(key);
          if (now && now.operation === "PUT" && Buffer.from(now.value).equals(value)) return now.revision;
        }
        // Answered "no responders", the attempt reached no server.
        mayHaveLanded ||= !isNoResponders(error);
        throw error;
      }
    });
  }

  /**
   * The keys matching `filter` with a message in the bucket, a deleted one's marker included (its
   * reader skips it): one stream info request, where `kv.keys()` makes a consumer each call.
   */
  async listKeys(filter: string): Promise<string[]> {
    const prefix = `$KV.${this.name}.`;
    const info = await retrying(this.retry, () => this.jsm.streams.info(this.stream, { subjects_filter: `${prefix}${filter}` }));
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  }

  /** Deletes the keys with a marker other gateways' watches see (log values, readers). */
  async purgeKeys(filter: string): Promise<void> {
    for (const key of await this.listKeys(filter)) await retrying(this.retry, () => this.kv.purge(key));
  }

  /** Removes the keys' messages outright, markers and all: for keys no watch follows (producer slots). */
  async eraseKeys(filter: string): Promise<void> {
    await retrying(this.retry, () => this.answers.untilAnswerLost(this.stream, this.jsm.streams.purge(this.stream, { filter: `$KV.${this.name}.${filter}` })));
  }

  /** The stream sequence of the bucket's last message on `key` (wildcards allowed), from the stream leader; 0: none. */
  async lastRevision(key: string): Promise<number> {
    const last = await this.jsm.streams.getMessage(this.stream, { last_by_subj: `$KV.${this.name}.${key}` });
    return last?.seq ?? 0;
  }
}
