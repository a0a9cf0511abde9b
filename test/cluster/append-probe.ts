/**
 * A steady stream of single-record appends through the TypeScript client's appender (retrying,
 * idempotent), every one timed: what a write outage looks like from a producer. The fault tests
 * use it to check that no answered append is lost, and the bench to measure outages, the same way.
 *
 * @example
 * const probe = startAppendProbe(client, "orders");
 * const killedAt = performance.now(); await cluster.kill9(leader);
 * const { outageMs } = probe.outageAfter(killedAt);
 */
import type { AppenderOptions, DlogClient } from "../../clients/typescript/src/index.js";

export interface ProbeAppend {
  /** "PREFIX-N": unique per probe, so a record read back names the append that wrote it. */
  payload: string;
  issuedAt: number;
  /** performance.now() when its DLSN arrived; undefined while unanswered (or when it failed). */
  answeredAt: number | undefined;
  dlsn: string | undefined;
  error: unknown;
}

export interface AppendProbe {
  /** Every append issued so far, in issue order. */
  readonly appends: readonly ProbeAppend[];
  /** Answered appends so far. */
  answered(): number;
  /**
   * Writes stopped at `at` (performance.now()) until the first answer to an append issued at or
   * after it: `outageMs` is that answer's time − `at` (undefined: none answered yet).
   */
  outageAfter(at: number): { outageMs: number | undefined };
  /** Stops issuing and waits up to `timeoutMs` for the answers still due; resolves with the appends. */
  stop(timeoutMs?: number): Promise<readonly ProbeAppend[]>;
}

export interface AppendProbeOptions {
  /** One append every this many ms (default 5). */
  intervalMs?: number;
  /** Payload prefix (default "probe"). */
  prefix?: string;
  /** Appender options (default: lingerMs 0, and a retry that tries every 20-200 ms, so an outage is measured, not the client's backoff). */
  appender?: AppenderOptions;
}

const PROBE_RETRY = { initialDelayMs: 20, maxDelayMs: 200, maxElapsedMs: 60_000 };

export function startAppendProbe(client: DlogClient, log: string, options: AppendProbeOptions = {}): AppendProbe {
  const appender = client.appender(log, { lingerMs: 0, retry: PROBE_RETRY, ...options.appender });
  const prefix = options.prefix ?? "probe";
  const appends: ProbeAppend[] = [];
  const pending = new Set<Promise<void>>();
  const issue = (): void => {
    const a: ProbeAppend = { payload: `${prefix}-${appends.length}`, issuedAt: performance.now(), answeredAt: undefined, dlsn: undefined, error: undefined };
    appends.push(a);
    const done = appender.append(a.payload).then(
      ([dlsn]) => {
        a.answeredAt = performance.now();
        a.dlsn = dlsn?.toString();
      },
      (error: unknown) => void (a.error = error),
    );
    pending.add(done);
    void done.finally(() => pending.delete(done));
  };
  const timer = setInterval(issue, options.intervalMs ?? 5);
  return {
    appends,
    answered: () => appends.filter((a) => a.answeredAt !== undefined).length,
    outageAfter(at) {
      const first = appends.find((a) => a.issuedAt >= at && a.answeredAt !== undefined);
      return { outageMs: first === undefined ? undefined : first.answeredAt! - at };
    },
    async stop(timeoutMs = 30_000) {
      clearInterval(timer);
      let guard: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(pending), new Promise((resolve) => (guard = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(guard);
      await Promise.race([appender.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000))]);
      return appends;
    },
  };
}
