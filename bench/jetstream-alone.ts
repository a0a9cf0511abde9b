/**
 * The JetStream section of `make bench` (bench/jetstream.ts) on its own, next to a fresh LevelDB
 * dlogd as in the full run: `node dist/bench/jetstream-alone.js [--quick] [--leader-kills N]
 * [--graceful-stops N] [--takeovers N]` (after `make bench`'s nats-server is built). Prints the
 * section's table; writes no results file.
 */
import { attempter } from "./attempt.js";
import { cleanUpOnSignals, onCleanup } from "./cleanup.js";
import { startDlogd } from "./dlogd-process.js";
import { jetstreamSection } from "./jetstream.js";
import { loadPlan, USAGE } from "./plan.js";
import { machineInfo, renderSection } from "./report.js";
import { warmUp } from "./warm-up.js";

const progress = (message: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

const attempt = attempter(progress);

/** This runner's own flags (how many faults of the other kinds), taken out before the plan's. */
const args = process.argv.slice(2);
const own = (flag: string): number | undefined => {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const value = Number(args[i + 1]);
  if (!Number.isSafeInteger(value) || value < 0 || value > 1_000)
    throw new Error(`${flag} "${args[i + 1] ?? ""}" is not valid; expected a whole number from 0 to 1000`);
  args.splice(i, 2);
  return value;
};
const gracefulStops = own("--graceful-stops");
const takeovers = own("--takeovers");
const plan = loadPlan(args, process.env);
if (plan === "help") {
  console.log(
    `${USAGE.replace("node dist/bench/run.js", "node dist/bench/jetstream-alone.js")}\n  --graceful-stops N, --takeovers N   SIGTERMs of the leader and reader takeovers`,
  );
  process.exit(0);
}
if (gracefulStops !== undefined) plan.jetstream.gracefulStops = gracefulStops;
if (takeovers !== undefined) plan.jetstream.takeovers = takeovers;
cleanUpOnSignals(progress);
const level = await startDlogd({});
const stopLevel = onCleanup(() => level.stop());
try {
  await attempt("dlog: warm-up (LevelDB)", () => warmUp(level, plan.quick));
  const { section } = await jetstreamSection(plan.jetstream, level, attempt, (d) => warmUp(d, true));
  console.log(`${machineInfo()}\n\n${renderSection(section)}`);
} finally {
  await stopLevel();
}
