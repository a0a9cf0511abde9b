/**
 * The reader across server restarts: the loop keeps going, no record is lost,
 * and what comes again stays within the crash bound — the records after the
 * last durable position the client was told about, up to the last one it got.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type DlogError, createDlogClient, type DLSN, Status } from "../../clients/typescript/src/index.js";
import { type DlogdProcess, startDlogd, tempDir } from "../helpers/dlogd.js";

const RECORDS = 20_000;

interface Loss {
  /** Index of the record at the last durable position reported before the loss (-1: none). */
  durableIndex: number;
  /** Highest record index handed to the loop before the loss. */
  yieldedIndex: number;
  /** Records handed out again after the loss (index <= yieldedIndex). */
  repeated: number;
  /** First record index after the reconnect. */
  firstAfter: number | undefined;
}

async function readAcrossRestarts(restart: (server: DlogdProcess) => Promise<void>, restartAt: number[]): Promise<{ losses: Loss[]; deliveries: number }> {
  const dir = tempDir();
  let server = await startDlogd({ process: true, dataDir: dir.path });
  const port = server.address.slice(server.address.lastIndexOf(":") + 1);
  const client = createDlogClient({ address: server.address });
  try {
    const appender = client.appender("restarts");
    const appends: Array<Promise<DLSN[]>> = [];
    for (let first = 0; first < RECORDS; first += 100) {
      appends.push(appender.append(Array.from({ length: 100 }, (_, i) => String(first + i))));
    }
    await Promise.all(appends);
    await appender.close();

    const reader = client.reader({ log: "restarts", readerId: "r", reconnect: { initialDelayMs: 20, maxDelayMs: 500, maxElapsedMs: 30_000 } });
    const indexOf = new Map<string, number>();
    const seen = new Uint8Array(RECORDS);
    let distinct = 0;
    let deliveries = 0;
    let yieldedIndex = -1;
    let durableIndex = -1;
    let lastDurable: DLSN | undefined;
    const losses: Loss[] = [];
    let current: Loss | undefined;
    let live = false;

    reader.on("status", (status) => {
      const floor = status.durableFloor;
      if (!floor) return;
      if (lastDurable) assert.ok(!floor.isBefore(lastDurable), `durable position went back from ${lastDurable} to ${floor}`);
      lastDurable = floor;
      durableIndex = indexOf.get(floor.toString()) ?? durableIndex;
    });
    reader.on("opened", () => {
      live = true;
    });
    reader.on("reconnecting", () => {
      if (!live) return; // a further attempt within the same outage
      live = false;
      current = { durableIndex, yieldedIndex, repeated: 0, firstAfter: undefined };
      losses.push(current);
    });

    const restarts = [...restartAt];
    let restarting: Promise<void> = Promise.resolve();
    for await (const record of reader) {
      const index = Number(record.text());
      indexOf.set(record.dlsn.toString(), index);
      deliveries++;
      if (current) {
        current.firstAfter ??= index;
        if (index <= current.yieldedIndex) {
          current.repeated++;
          assert.ok(record.redelivered, `record ${index} came again after a reconnect but is not flagged redelivered`);
        }
      }
      if (seen[index] === 0) distinct++;
      seen[index] = 1;
      yieldedIndex = Math.max(yieldedIndex, index);
      record.ack();
      if (distinct === RECORDS) break;
      if (restarts.length > 0 && distinct >= restarts[0]!) {
        restarts.shift();
        restarting = restarting.then(async () => {
          await restart(server);
          server = await startDlogd({ process: true, dataDir: dir.path, listen: `127.0.0.1:${port}` });
        });
      }
      if (deliveries % 10 === 0) await sleep(1); // a consumer that does some work: the restarts land mid-stream
    }
    await restarting;
    await reader.close();
    assert.equal(distinct, RECORDS, "every record delivered at least once");
    return { losses, deliveries };
  } finally {
    client.close();
    await server.stop();
    dir.cleanup();
  }
}

function assertWithinCrashBound(losses: Loss[]): void {
  for (const loss of losses) {
    const bound = loss.yieldedIndex - loss.durableIndex;
    assert.ok(loss.repeated <= bound, `${loss.repeated} records repeated after a loss; bound ${bound} (${JSON.stringify(loss)})`);
    assert.ok(
      loss.firstAfter !== undefined && loss.firstAfter > loss.durableIndex,
      `resumed at ${loss.firstAfter}, before the durable position ${loss.durableIndex}`,
    );
    assert.ok(loss.firstAfter <= loss.yieldedIndex + 1, `gap: resumed at ${loss.firstAfter} after ${loss.yieldedIndex}`);
  }
}

test("graceful server restart under a running reader: the loop goes on, nothing lost, nothing repeated", { timeout: 90_000 }, async () => {
  const { losses, deliveries } = await readAcrossRestarts((server) => server.stop("SIGTERM").then(() => undefined), [5_000, 12_000]);
  assert.equal(losses.length, 2, "two restarts, two reconnects");
  assertWithinCrashBound(losses);
  // A graceful stop stops delivering, lets the client ack what it was sent, flushes, then ends: nothing comes again.
  assert.deepEqual(
    losses.map((loss) => loss.repeated),
    [0, 0],
    "records handed out again after a graceful restart",
  );
  console.log(`graceful: ${deliveries} deliveries for ${RECORDS} records; repeated after each restart: ${losses.map((loss) => loss.repeated).join(", ")}`);
});

test("kill -9 under a running reader, three times: nothing lost, repeats within the crash bound", { timeout: 90_000 }, async () => {
  const { losses, deliveries } = await readAcrossRestarts((server) => server.kill9(), [4_000, 9_000, 14_000]);
  assert.equal(losses.length, 3, "three crashes, three reconnects");
  assertWithinCrashBound(losses);
  console.log(
    `kill -9: ${deliveries} deliveries for ${RECORDS} records; repeated/bound after each crash: ${losses.map((loss) => `${loss.repeated}/${loss.yieldedIndex - loss.durableIndex}`).join(", ")}`,
  );
});

test("an appender with retry off, across a server crash: appends in flight reject with UNAVAILABLE, later ones go out on a new stream", {
  timeout: 60_000,
}, async () => {
  const dir = tempDir();
  let server = await startDlogd({ process: true, dataDir: dir.path });
  const port = server.address.slice(server.address.lastIndexOf(":") + 1);
  const client = createDlogClient({ address: server.address });
  try {
    const appender = client.appender("appender-crash", { retry: false });
    await appender.append("before");
    const inFlight = Array.from({ length: 2000 }, (_, i) => appender.append(`during ${i}`));
    // Observed before the kill: rejections arrive while kill9() is awaited.
    const settled = Promise.allSettled(inFlight);
    await server.kill9();
    const outcomes = await settled;
    const failed = outcomes.filter((outcome) => outcome.status === "rejected");
    for (const outcome of failed) assert.equal((outcome.reason as DlogError).code, Status.UNAVAILABLE);
    server = await startDlogd({ process: true, dataDir: dir.path, listen: `127.0.0.1:${port}` });
    let after: DLSN[] | undefined;
    for (let attempt = 0; attempt < 50 && !after; attempt++) {
      after = await appender.append("after").catch(async () => {
        await sleep(100); // the channel is still redialling
        return undefined;
      });
    }
    assert.ok(after, "an append after the restart succeeds");
    await appender.close();
    // Whatever was acknowledged before the crash is there (SPEC: kill -9 never loses an acknowledged append).
    const texts = new Set<string>();
    for await (const record of client.read("appender-crash")) texts.add(record.text());
    outcomes.forEach((outcome, i) => {
      if (outcome.status === "fulfilled") assert.ok(texts.has(`during ${i}`), `acknowledged append ${i} lost`);
    });
    assert.ok(texts.has("before") && texts.has("after"));
  } finally {
    client.close();
    await server.stop();
    dir.cleanup();
  }
});
