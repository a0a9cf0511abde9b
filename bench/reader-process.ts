/**
 * One client process of the many-readers rows (forked by reader-processes.ts): its own gRPC channel
 * to dlogd and some of the readers. It warms up, says "ready", waits for "go", runs its readers at
 * once, sends back each reader's result and its own CPU time from "go" to the last reader done, and exits.
 *
 * argv[2]: the JSON of a `ReaderProcessTask`.
 */
import { deliverAndAck } from "./deliver.js";
import { benchChannel } from "./dlogd-process.js";
import type { ReaderProcessMessage, ReaderProcessTask } from "./reader-processes.js";
import { frameReaders } from "./session-client.js";

/** Resolves once the message is handed to the IPC channel, so that disconnecting after it loses nothing. */
const send = (message: ReaderProcessMessage): Promise<void> =>
  new Promise((resolve) => {
    process.send!(message, undefined, undefined, () => resolve());
  });

async function main(task: ReaderProcessTask): Promise<void> {
  const channel = benchChannel(task.address);
  const readers = frameReaders(channel);
  try {
    // A fresh process decodes unoptimised at first: one short session of its own before the clock starts.
    await deliverAndAck(readers, task.log, `${task.readerIds[0]}-warm-up`, task.warmUpRecords, task.timeoutMs);
    const go = new Promise<void>((resolve) => process.once("message", () => resolve()));
    await send({ kind: "ready" });
    await go;
    const cpu0 = process.cpuUsage();
    const results = await Promise.all(task.readerIds.map((id) => deliverAndAck(readers, task.log, id, task.targetEach, task.timeoutMs)));
    const cpu = process.cpuUsage(cpu0);
    await send({ kind: "done", results, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  } finally {
    channel.close();
  }
}

// The parent gone (ended or killed): nothing left to report to.
process.once("disconnect", () => process.exit(0));
try {
  await main(JSON.parse(process.argv[2]!) as ReaderProcessTask);
} catch (error) {
  await send({ kind: "failed", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
}
process.disconnect();
