/**
 * The JetStream section of `make bench` (bench/jetstream.ts) on its own, next to a fresh LevelDB
 * dlogd as in the full run: `node dist/bench/jetstream-alone.js [--quick] [--leader-kills N]`
 * (after `make bench`'s nats-server is built). Prints the section's table; writes no results file.
 */
import { cleanUpOnSignals, onCleanup } from "./cleanup.js";
import { startDlogd } from "./dlogd-process.js";
import { jetstreamSection } from "./jetstream.js";
import { loadPlan, USAGE } from "./plan.js";
import { machineInfo, renderSection } from "./report.js";
import { warmUp } from "./warm-up.js";

const progress = (message: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

async function attempt<T>(label: string, step: () => Promise<T>): Promise<T | Error> {
  progress(label);
  try {
    return await step();
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    progress(`  failed: ${failure.message.split("\n")[0]}`);
    return failure;
  }
}

const plan = loadPlan(process.argv.slice(2), process.env);
if (plan === "help") {
  console.log(USAGE.replace("node dist/bench/run.js", "node dist/bench/jetstream-alone.js"));
  process.exit(0);
}
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
