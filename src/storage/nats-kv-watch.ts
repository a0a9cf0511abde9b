import type { KvWatchEntry } from "@nats-io/kv";
import type { NatsBucket } from "./nats-bucket.js";

/** A KV watch the watchdog found silent and recreated: it had delivered up to `seen`, the bucket holds `last`. */
export interface WatchRestart {
  watch: "logs" | "readers";
  seen: number;
  last: number;
  silentMs: number;
}

/**
 * A KV watch (an ordered push consumer) can stay silent while its keys change and the connection is
 * up (a consumer left on a replica that stopped, as after a leader crash): nats.js recreates one only
 * when its heartbeats stop. A watch that lags the bucket leader's last message for its keys this long
 * is recreated after the last revision it delivered; a healthy one lags by milliseconds.
 */
export const WATCHDOG = { checkMs: 2_000, silentMs: 6_000 };

/**
 * The KV watches of one gateway (other gateways' log commits, reader writes), each kept going until
 * `stop`: restarted after the last revision it delivered when it ends early or falls silent.
 */
export class KvWatches {
  private readonly watches = new Set<{ stop(): void }>();
  private readonly watchdog: { checkMs: number; silentMs: number };
  /** True while the connection to NATS is lost: nothing flows, the watchdog does not judge. */
  private readonly disconnected: () => boolean;
  private restartListener: ((restart: WatchRestart) => void) | undefined;
  /** KV watches the watchdog recreated. */
  restarts = 0;
  private closing = false;

  constructor(parts: { watchdog: { checkMs: number; silentMs: number }; disconnected: () => boolean }) {
    this.watchdog = parts.watchdog;
    this.disconnected = parts.disconnected;
  }

  /** Registers the one listener told when the watchdog recreates a KV watch that fell silent. */
  onRestarted(listener: (restart: WatchRestart) => void): void {
    this.restartListener = listener;
  }

  /** Stops every watch; none is started again. */
  stop(): void {
    this.closing = true;
    for (const watch of this.watches) watch.stop();
  }

  /**
   * Runs `handle` for each entry of a KV watch of `key` until close: from the current values on, or
   * with `fromNow` from the bucket's last message on. A watch that ends early, or that the watchdog
   * finds silent, is started again after the last revision it delivered, so no change is skipped.
   */
  follow(name: WatchRestart["watch"], bucket: NatsBucket, key: string, fromNow: boolean, handle: (entry: KvWatchEntry) => Promise<void>): void {
    const run = async (): Promise<void> => {
      let seen: number | undefined;
      while (!this.closing) {
        try {
          if (seen === undefined && fromNow) seen = await bucket.lastRevision(key);
          const watch = await bucket.kv.watch(seen === undefined ? { key } : { key, resumeFromRevision: seen + 1 });
          this.watches.add(watch);
          const dog = this.watchWatch(
            name,
            bucket,
            key,
            () => seen ?? 0,
            () => watch.stop(),
          );
          try {
            for await (const entry of watch) {
              if (entry.revision > (seen ?? 0)) seen = entry.revision;
              await handle(entry);
            }
          } finally {
            clearInterval(dog);
            this.watches.delete(watch);
          }
        } catch {
          // Not connected or no leader: the loop starts it again.
        }
        if (!this.closing) await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    void run();
  }

  /**
   * The watchdog of one watch: every `checkMs`, the bucket leader's last message for the watch's
   * keys; a revision the watch has not delivered for `silentMs` (no progress towards it meanwhile)
   * stops the watch, and `follow` starts it again. Not checked while disconnected (nothing flows).
   */
  private watchWatch(name: WatchRestart["watch"], bucket: NatsBucket, key: string, seen: () => number, stop: () => void): NodeJS.Timeout {
    let behind: { seen: number; since: number } | undefined;
    let checking = false;
    const timer = setInterval(() => {
      if (checking || this.closing || this.disconnected()) return;
      checking = true;
      bucket
        .lastRevision(key)
        .then((last) => {
          const now = Date.now();
          if (last <= seen()) behind = undefined;
          else if (behind === undefined || seen() > behind.seen) behind = { seen: seen(), since: now };
          else if (now - behind.since >= this.watchdog.silentMs) {
            this.restarts++;
            this.restartListener?.({ watch: name, seen: seen(), last, silentMs: now - behind.since });
            behind = undefined;
            stop();
          }
        })
        // No leader or no answer now: the next check asks again.
        .catch(() => undefined)
        .finally(() => {
          checking = false;
        });
    }, this.watchdog.checkMs);
    timer.unref();
    return timer;
  }
}
