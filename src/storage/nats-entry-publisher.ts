import type { JetStreamClient } from "@nats-io/jetstream";
import { DlogError } from "../errors.js";
import type { AnswerWaiters } from "./nats-answer-waiters.js";
import { entryMsgId } from "./nats-entry-id.js";
import type { NatsEntryReader } from "./nats-entry-reader.js";
import type { LogView } from "./nats-log-view.js";
import { isNoResponders, isTransient, isWrongLastSequence, outOfTime, retryDelayMs } from "./nats-retry.js";
import type { EntryWrite } from "./storage.js";

/**
 * The publishes of a commit: one log's entries go to its subject in DLSN order, each under its
 * `Nats-Msg-Id`, the first expecting the subject's last sequence, and through a leader election they
 * go on from what the stream holds, never stored twice or out of order.
 */
export class NatsEntryPublisher {
  private readonly js: JetStreamClient;
  private readonly stream: string;
  private readonly retry: { attemptMs: number; totalMs: number };
  private readonly answers: AnswerWaiters;
  private readonly entries: NatsEntryReader;

  constructor(parts: { js: JetStreamClient; stream: string; retry: { attemptMs: number; totalMs: number }; answers: AnswerWaiters; entries: NatsEntryReader }) {
    this.js = parts.js;
    this.stream = parts.stream;
    this.retry = parts.retry;
    this.answers = parts.answers;
    this.entries = parts.entries;
  }

  /**
   * Publishes one log's entries, pipelined, in DLSN order; the first expects the subject's last
   * sequence as this gateway knows it. Resolves with the last entry's stream sequence. Through a
   * leader election (no answer, no responders) it goes on from what the stream holds: the entries
   * that landed are found after the expected sequence, and the rest is published after them.
   */
  async publish(logId: number, view: LogView, entries: EntryWrite[]): Promise<number> {
    if (view.lastSeq < 0) {
      const last = await this.entries.lastSeqOf(logId);
      // Entries after the committed tail are an unfinished append's (a gateway that died between its
      // publishes and its commit): published after, they would fall inside this commit's range.
      if (view.meta && last > view.tailSeq) {
        throw new DlogError("UNAVAILABLE", "the log holds the entries of an unfinished append; they are removed as its state is reloaded, retry the call", {
          reason: "STORAGE_UNAVAILABLE",
        });
      }
      view.lastSeq = last;
    }
    const base = view.lastSeq;
    // Some may be stored whatever happens next: the subject's last sequence is known again at the end.
    view.lastSeq = -1;
    const subject = this.entries.subject(logId);
    const deadline = Date.now() + this.retry.totalMs;
    let landed: number[] = [];
    for (let attempt = 0; ; attempt++) {
      const expected = landed.length === 0 ? base : landed[landed.length - 1]!;
      try {
        const acks = await this.answers.untilAnswerLost(
          this.stream,
          Promise.all(
            entries.slice(landed.length).map((entry, i) => {
              const msgID = entryMsgId(logId, entry.segment, entry.entry);
              const options = i === 0 ? { msgID, expect: { lastSubjectSequence: expected } } : { msgID };
              return this.js.publish(subject, entry.value, { ...options, timeout: this.retry.attemptMs });
            }),
          ),
        );
        let previous = expected;
        for (const ack of acks) {
          // A first attempt's duplicate would be an earlier, different entry under the same DLSN; an
          // order other than DLSN order would break every cursor. Neither may pass as committed.
          if ((ack.duplicate && attempt === 0) || ack.seq <= previous) {
            throw new DlogError(
              "INTERNAL",
              `log ${logId}: the stream stored an entry out of order or as a duplicate (seq ${ack.seq}); the append is not committed`,
            );
          }
          previous = ack.seq;
        }
        view.lastSeq = previous;
        return previous;
      } catch (error) {
        if (isWrongLastSequence(error) && attempt === 0) {
          throw new DlogError(
            "UNAVAILABLE",
            "the log was appended to by another dlogd gateway (or holds an unfinished append); its state is reloaded, retry the call",
            {
              reason: "STORAGE_UNAVAILABLE",
              cause: error,
            },
          );
        }
        // A later attempt's wrong sequence: an entry of the last attempt landed after the look below.
        if (!(isTransient(error) || isWrongLastSequence(error))) throw error;
        if (Date.now() >= deadline) throw isTransient(error) ? outOfTime(error, this.retry.totalMs) : error;
        if (isNoResponders(error)) await this.answers.electionOrDelay(this.stream, retryDelayMs(error, attempt));
        else await new Promise((resolve) => setTimeout(resolve, retryDelayMs(error, attempt)));
        landed = await this.landedPrefix(logId, base, entries);
      }
    }
  }

  /** Stream sequences of the entries, a prefix of `entries`, stored after `base`; anything else there is another gateway's. */
  private async landedPrefix(logId: number, base: number, entries: EntryWrite[]): Promise<number[]> {
    const subject = this.entries.subject(logId);
    const seqs: number[] = [];
    for (let seq = base + 1; seqs.length < entries.length; ) {
      const msg = await this.entries.nextMessage(subject, seq);
      if (!msg) break;
      const entry = entries[seqs.length]!;
      if (msg.header?.get("Nats-Msg-Id") !== entryMsgId(logId, entry.segment, entry.entry)) {
        throw new DlogError("UNAVAILABLE", "the log was appended to by another dlogd gateway; its state is reloaded, retry the call", {
          reason: "STORAGE_UNAVAILABLE",
        });
      }
      seqs.push(msg.seq);
      seq = msg.seq + 1;
    }
    return seqs;
  }
}
