import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { REPO_ROOT } from "../helpers/dlogd.js";
import { type Fixture, startFixture } from "../helpers/fixture.js";
import { runProcess } from "../helpers/process.js";
import { appendNumbered, dlsnKey } from "../helpers/session.js";

const GRPCURL = join(REPO_ROOT, ".tools", "bin", "grpcurl");
const SKIP = existsSync(GRPCURL) ? false : `grpcurl is not installed at ${GRPCURL}; \`make test\` installs it`;
const TIMEOUT_MS = 20_000;

/** A DLSN as grpcurl prints it: int64 as strings, zero fields left out. */
interface JsonDlsn {
  segment?: string;
  entry?: string;
  slot?: string;
}
type JsonFrame = {
  opened?: object;
  records?: { records: Array<{ dlsn: JsonDlsn; payload: string; attempt: number }> };
  status?: object;
  drained?: { durableFloor?: JsonDlsn };
};

const jsonKey = (dlsn: JsonDlsn | undefined): string => `${dlsn?.segment ?? 0}/${dlsn?.entry ?? 0}/${dlsn?.slot ?? 0}`;

/** Splits grpcurl's output (one pretty-printed JSON object per message) into objects as they complete. */
function jsonObjects(onObject: (value: unknown) => void): (chunk: string) => void {
  let buffer = "";
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  return (chunk) => {
    const offset = buffer.length;
    buffer += chunk;
    for (let i = offset; i < buffer.length; i++) {
      const c = buffer[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === "\\") escaped = true;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{") {
        if (depth++ === 0) start = i;
      } else if (c === "}" && --depth === 0) {
        onObject(JSON.parse(buffer.slice(start, i + 1)));
        buffer = buffer.slice(i + 1);
        i = -1;
      }
    }
  };
}

/** Runs grpcurl to its exit with `input` on stdin. */
const grpcurl = (args: string[], input: string) => runProcess(GRPCURL, args, { input });

let fixture: Fixture;
before(async () => {
  if (SKIP === false) fixture = await startFixture();
});
after(() => fixture?.close());

test("a session driven from grpcurl: open, records, ack, half-close → drained; GetPosition shows the acked floor", {
  skip: SKIP,
  timeout: TIMEOUT_MS,
}, async () => {
  const { clients, server } = fixture;
  const dlsns = await appendNumbered(clients, "grpcurl", 5);

  const child = spawn(GRPCURL, ["-plaintext", "-d", "@", server.address, "dlog.v1.ReaderService/Session"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const frames: JsonFrame[] = [];
  let onFrame: (() => void) | undefined;
  child.stdout.setEncoding("utf8").on(
    "data",
    jsonObjects((value) => {
      frames.push(value as JsonFrame);
      onFrame?.();
    }),
  );
  const killer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS - 2_000);
  try {
    /** Waits until the frames received so far satisfy `ready`. */
    const waitFor = (ready: () => boolean, what: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (ready()) {
            onFrame = undefined;
            resolve();
          }
        };
        onFrame = check;
        void exited.then((code) => reject(new Error(`grpcurl exited (${code}) while waiting for ${what}: ${stderr}`)));
        check();
      });

    child.stdin.write(`${JSON.stringify({ open: { log: "grpcurl", reader_id: "cli", flow: { max_outstanding_records: 3 } } })}\n`);
    const records = () => frames.flatMap((f) => f.records?.records ?? []);
    await waitFor(() => records().length >= 3, "three records");
    assert.ok(frames[0]?.opened, "the first frame is opened");
    const got = records();
    assert.deepEqual(
      got.map((r) => Buffer.from(r.payload, "base64").toString("utf8")),
      ["1", "2", "3"],
    );
    assert.deepEqual(
      got.map((r) => jsonKey(r.dlsn)),
      dlsns.slice(0, 3).map(dlsnKey),
    );

    // Acks as JSON: two individual DLSNs (int64 as strings, as grpcurl prints them), then a cumulative one.
    child.stdin.write(`${JSON.stringify({ ack: { dlsns: [got[1]!.dlsn, got[0]!.dlsn] } })}\n`);
    child.stdin.write(`${JSON.stringify({ ack: { up_to: got[2]!.dlsn } })}\n`);
    child.stdin.end(); // half-close: the server drains
    assert.equal(await exited, 0, `grpcurl exits 0: ${stderr}`);
    const drained = frames.at(-1)?.drained;
    assert.ok(drained, `the last frame is drained: ${JSON.stringify(frames.at(-1))}`);
    assert.equal(jsonKey(drained.durableFloor), dlsnKey(dlsns[2]));
  } finally {
    clearTimeout(killer);
    child.kill("SIGKILL");
  }

  const position = await clients.readers.getPosition({ log: "grpcurl", readerId: "cli" });
  assert.equal(dlsnKey(position.floor), dlsnKey(dlsns[2]));
  assert.equal(position.lag, 2n);

  // The admin calls work from grpcurl too.
  const admin = await grpcurl(
    ["-plaintext", "-d", "@", server.address, "dlog.v1.ReaderService/GetPosition"],
    JSON.stringify({ log: "grpcurl", reader_id: "cli" }),
  );
  assert.equal(admin.code, 0, admin.stderr);
  const info = JSON.parse(admin.stdout) as { readerId: string; floor: JsonDlsn; lag: string; live?: boolean };
  assert.equal(info.readerId, "cli");
  assert.equal(jsonKey(info.floor), dlsnKey(dlsns[2]));
  assert.equal(info.lag, "2");
});
