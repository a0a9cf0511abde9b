/** The CLI and the client over mutual TLS with bearer tokens; what a refused person sees. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DlogError, createDlogClient, Status } from "../../clients/typescript/src/index.js";
import { dlog as runDlog } from "../helpers/cli.js";
import { type Dlogd, startDlogd, tempDir } from "../helpers/dlogd.js";
import { type Certificates, makeCertificates } from "../helpers/tls.js";

const WRITER = "writer-secret-0001"; // append + read on sec-*
const OPERATOR = "admin-secret-00001"; // everything

let server: Dlogd;
let certs: Certificates;
let cleanup: () => void;

before(async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  certs = makeCertificates(dir.path);
  const tokens = join(dir.path, "tokens.json");
  writeFileSync(
    tokens,
    JSON.stringify({
      tokens: [
        { name: "writer", token: WRITER, allow: { append: ["sec-*"], read: ["sec-*"] } },
        { name: "operator", token: OPERATOR, allow: { admin: ["*"], read: ["*"], append: ["*"] } },
      ],
    }),
  );
  server = await startDlogd({
    dataDir: join(dir.path, "data"),
    args: ["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey, "--tls-client-ca", certs.ca, "--auth-tokens", tokens],
  });
});

after(async () => {
  await server.stop();
  cleanup();
});

const dlog = (args: string[], token?: string) =>
  runDlog(["--tls", "--ca", certs.ca, "--cert", certs.clientCert, "--key", certs.clientKey, ...args], { address: server.address, token: token ?? "" });

test("the CLI appends and tails over mutual TLS with a token from DLOG_TOKEN", { timeout: 30_000 }, async () => {
  const appended = await dlog(["append", "--log", "sec-orders", "one", "two"], WRITER);
  assert.equal(appended.code, 0, appended.stderr);
  const tailed = await dlog(["tail", "--log", "sec-orders", "--reader", "r", "--max", "2"], WRITER);
  assert.equal(tailed.code, 0, tailed.stderr);
  assert.equal(tailed.stdout, "one\ntwo\n");
});

test("permission denied and a missing token: one line, exit 4", { timeout: 30_000 }, async () => {
  const denied = await dlog(["logs", "delete", "sec-orders", "--yes"], WRITER);
  assert.equal(denied.code, 4);
  assert.match(denied.stderr, /^dlog: token "writer" may not admin log "sec-orders" \(PERMISSION_DENIED\)\n$/);
  const outside = await dlog(["tail", "--log", "payroll", "--reader", "r"], WRITER);
  assert.equal(outside.code, 4);
  assert.match(outside.stderr, /^dlog: .*payroll.* \(PERMISSION_DENIED\)\n$/);
  const anonymous = await dlog(["logs", "ls"]);
  assert.equal(anonymous.code, 4);
  assert.match(anonymous.stderr, /^dlog: missing bearer token.* \(UNAUTHENTICATED\)\n$/);
});

test("the client's reader runs over mutual TLS with a token; a reader on a forbidden log fails without reconnecting", { timeout: 30_000 }, async () => {
  const client = createDlogClient({
    address: server.address,
    token: OPERATOR,
    tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
  });
  try {
    await client.append("sec-reader", ["a", "b", "c"]);
    const reader = client.reader({ log: "sec-reader", readerId: "r" });
    const texts: string[] = [];
    for await (const record of reader) {
      texts.push(record.text());
      record.ack();
      if (texts.length === 3) break;
    }
    assert.deepEqual(texts, ["a", "b", "c"]);
  } finally {
    client.close();
  }
  const writer = createDlogClient({ address: server.address, token: WRITER, tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
  try {
    let reconnects = 0;
    const reader = writer.reader({ log: "payroll", readerId: "r" });
    reader.on("reconnecting", () => reconnects++);
    await assert.rejects(reader.ready(), (error: unknown) => error instanceof DlogError && error.code === Status.PERMISSION_DENIED);
    assert.equal(reconnects, 0);
  } finally {
    writer.close();
  }
});
