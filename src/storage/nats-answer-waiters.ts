import type { NatsConnection } from "@nats-io/transport-node";
import { AnswerLostError } from "./nats-retry.js";

/**
 * The requests waiting for an answer, per stream: a leader election of that stream (JetStream's
 * leader-elected advisory) or a lost connection gives them up at once, as an `AnswerLostError`, so
 * the retry goes without waiting out the request's timeout.
 */
export class AnswerWaiters {
  private readonly waiting = new Map<string, Set<(error: Error) => void>>();

  /** Follows JetStream's leader-elected advisories (published by the new leader): each gives up the requests waiting on that stream. */
  followElections(nc: NatsConnection): void {
    const prefix = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.";
    nc.subscribe(`${prefix}*`, {
      callback: (error, msg) => {
        if (error) return; // e.g. not permitted to subscribe: requests then wait for their timeout
        const stream = msg.subject.slice(prefix.length);
        this.giveUpWaiting(stream, `stream ${stream} elected a new leader`);
      },
    });
  }

  /** Resolves at `stream`'s next leader election (or a lost connection), or after `ms`. */
  async electionOrDelay(stream: string, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    // An election ends the wait early (as an AnswerLostError).
    await this.untilAnswerLost(stream, elapsed).catch(() => undefined);
    clearTimeout(timer);
  }

  /** Gives up the requests waiting on `stream` (every stream: undefined). */
  giveUpWaiting(stream: string | undefined, why: string): void {
    const sets = stream === undefined ? [...this.waiting.values()] : [this.waiting.get(stream) ?? new Set()];
    for (const waiters of sets) for (const giveUp of waiters) giveUp(new AnswerLostError(why));
  }

  /**
   * `request`'s answer, or an `AnswerLostError` as soon as `stream` elects a new leader or the
   * connection is lost first: the retry goes at once instead of after the request's timeout.
   */
  async untilAnswerLost<T>(stream: string, request: Promise<T>): Promise<T> {
    let giveUp: ((error: Error) => void) | undefined;
    const lost = new Promise<never>((_, reject) => (giveUp = reject));
    let waiters = this.waiting.get(stream);
    if (!waiters) this.waiting.set(stream, (waiters = new Set()));
    waiters.add(giveUp!);
    try {
      return await Promise.race([request, lost]);
    } finally {
      waiters.delete(giveUp!);
      if (waiters.size === 0) this.waiting.delete(stream);
      // A request given up still settles later (its answer or its timeout): nothing waits for it.
      request.catch(() => undefined);
    }
  }
}
