/** What one benchmark run does and how big: from argv and BENCH_RECORDS, validated once. */

export interface Plan {
  quick: boolean;
  /** Also profile dlogd (node --cpu-prof) during a one-reader catch-up and summarise it. */
  profile: boolean;
  /** Records in each pre-filled catch-up log (the 1 M by default). */
  records: number;
  /** Records for the raw grpc-js 1 record/message reference and the NATS/Redis peers. */
  peerRecords: number;
  /** Single-record appends per row: one at a time, and with 256 in flight. */
  appendOneOps: number;
  appendManyOps: number;
  /**
   * Time bound for writing a second catch-up log one record per append, as long as the bulk ones
   * (`records`), so the goal's ratio compares logs of one length.
   */
  singlesMs: number;
  /** Wall-clock bound of each append row. */
  appendMs: number;
  /** Wall-clock bound of each deliver + ack run (one reader / eight readers). */
  deliverOneMs: number;
  deliverManyMs: number;
  /** Readers in the fan-out case, and the client processes that drive them (reader-processes.ts). */
  manyReaders: number;
  readerProcesses: number;
  /** Tailing: appends per second and for how long. */
  tailRate: number;
  tailMs: number;
  /** Sessions per resume mode. */
  resumeIterations: number;
  /** The JetStream section (bench/jetstream.ts): its workload sizes and how many faults of each kind. */
  jetstream: {
    records: number;
    singles: number;
    leaderKills: number;
    gracefulStops: number;
    takeovers: number;
    timeoutMs: number;
  };
}

/**
 * Client processes for the fan-out readers (4 readers each): one per core of this 2-core machine.
 * Side by side (8 readers, same dlogd, 4 rounds each), 4 processes cost 0.32 µs of client CPU per
 * record and 2 cost 0.24 (fewer processes switching on the cores), and at 8 readers' total rate each
 * of the 2 still decodes less than the one-reader row's client.
 */
const READER_PROCESSES = 2;

export const USAGE = `Usage: node dist/bench/run.js [--quick] [--profile] [--leader-kills N]

  --quick     ~1-2 minute run: 100 000-record logs, short rows (default: 1 M records, ~10 min on 2 cores)
  --profile   also run dlogd under node --cpu-prof for a one-reader catch-up and print its top functions
  --leader-kills N   kill -9 the JetStream stream leader N times under the append probe (default 3, --quick 1;
              each costs ~10-15 s): the long run of issue 12 is --leader-kills 20
  env BENCH_RECORDS=N   records per catch-up log (default 1000000, or 100000 with --quick; at least 10000)

Writes the tables to stdout and to bench/results/latest.md.`;

export function loadPlan(argv: readonly string[], env: NodeJS.ProcessEnv): Plan | "help" {
  let quick = false;
  let profile = false;
  let leaderKills: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") quick = true;
    else if (arg === "--profile") profile = true;
    else if (arg === "--leader-kills") {
      const raw = argv[++i];
      leaderKills = Number(raw);
      if (!Number.isSafeInteger(leaderKills) || leaderKills < 0 || leaderKills > 1_000) {
        throw new Error(`--leader-kills "${raw ?? ""}" is not valid; expected a whole number from 0 to 1000`);
      }
    } else if (arg === "--help" || arg === "-h") return "help";
    else throw new Error(`unknown argument "${arg}"; expected --quick, --profile, --leader-kills N or --help`);
  }
  const raw = env["BENCH_RECORDS"];
  let records = quick ? 100_000 : 1_000_000;
  if (raw !== undefined && raw !== "") {
    records = Number(raw);
    if (!Number.isSafeInteger(records) || records < 10_000 || records > 10_000_000) {
      throw new Error(`BENCH_RECORDS="${raw}" is not valid; expected a whole number from 10000 to 10000000`);
    }
  }
  return quick
    ? {
        quick,
        profile,
        records,
        peerRecords: Math.min(records, 50_000),
        appendOneOps: 1_000,
        appendManyOps: 20_000,
        appendMs: 1_500,
        singlesMs: 30_000,
        deliverOneMs: 10_000,
        deliverManyMs: 15_000,
        manyReaders: 8,
        readerProcesses: READER_PROCESSES,
        tailRate: 2_000,
        tailMs: 2_000,
        resumeIterations: 30,
        jetstream: { records: 20_000, singles: 1_000, leaderKills: leaderKills ?? 1, gracefulStops: 1, takeovers: 5, timeoutMs: 30_000 },
      }
    : {
        quick,
        profile,
        records,
        peerRecords: Math.min(records, 200_000),
        appendOneOps: 5_000,
        appendManyOps: 200_000,
        appendMs: 5_000,
        singlesMs: 120_000,
        deliverOneMs: 45_000,
        deliverManyMs: 60_000,
        manyReaders: 8,
        readerProcesses: READER_PROCESSES,
        tailRate: 2_000,
        tailMs: 5_000,
        resumeIterations: 200,
        jetstream: { records: 200_000, singles: 5_000, leaderKills: leaderKills ?? 3, gracefulStops: 3, takeovers: 30, timeoutMs: 60_000 },
      };
}
