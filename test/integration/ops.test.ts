import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { dlogdExit } from "../helpers/dlogd.js";

const SERVER_TEST = { timeout: 30_000 };

/** A port some other process holds, for the time of `body`. */
async function withBusyPort<T>(body: (port: number) => Promise<T>): Promise<T> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  try {
    return await body((holder.address() as { port: number }).port);
  } finally {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  }
}

test("dlogd on a busy port says so in one line and exits non-zero", SERVER_TEST, async () => {
  await withBusyPort(async (port) => {
    const grpc = await dlogdExit(["--in-memory", "--listen", `127.0.0.1:${port}`]);
    assert.equal(grpc.code, 1, grpc.stderr);
    assert.equal(grpc.stderr, `dlogd: --listen 127.0.0.1:${port}: address in use\n`);

    const metrics = await dlogdExit(["--in-memory", "--listen", "127.0.0.1:0", "--log-level", "warn", "--metrics-listen", `127.0.0.1:${port}`]);
    assert.equal(metrics.code, 1, metrics.stderr);
    assert.equal(metrics.stderr, `dlogd: --metrics-listen 127.0.0.1:${port}: address in use\n`);
  });
});
