import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ChannelCredentials } from "@grpc/grpc-js";
import { ClientError, Metadata, Status, createChannel, createClient } from "nice-grpc";
import { LogServiceDefinition } from "../../src/gen/dlog/v1/log.js";
import { ReaderServiceDefinition, type SessionRequest } from "../../src/gen/dlog/v1/reader.js";
import { HealthDefinition } from "../../src/gen/grpc/health/v1/health.js";
import { bytes, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { makeCertificates } from "../helpers/tls.js";

const TIMEOUT = { timeout: 60_000 };

async function statusOf(promise: Promise<unknown>): Promise<{ code: Status; details: string }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClientError, `expected a gRPC error, got ${String(error)}`);
    return { code: error.code, details: error.details };
  }
  assert.fail("expected the call to fail");
}

test("TLS: a TLS client trusting the CA is served; a plaintext client is not", TIMEOUT, async () => {
  const dir = tempDir();
  const certs = makeCertificates(dir.path);
  const server = await startDlogd({
    dataDir: join(dir.path, "data"),
    args: ["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey],
  });
  try {
    const { readFileSync } = await import("node:fs");
    const secure = createChannel(server.address, ChannelCredentials.createSsl(readFileSync(certs.ca)));
    const logs = createClient(LogServiceDefinition, secure);
    const appended = await logs.append({ log: "tls", records: [{ payload: bytes("over tls") }] });
    assert.equal(appended.dlsns.length, 1);
    secure.close();

    const plain = connect(server.address);
    const failure = await statusOf(plain.logs.getLog({ log: "tls" }));
    assert.equal(failure.code, Status.UNAVAILABLE, `got ${Status[failure.code]}`);
    plain.close();
  } finally {
    await server.stop();
    dir.cleanup();
  }
});

test("mutual TLS: a client without a certificate is refused, one with a certificate from the CA is served", TIMEOUT, async () => {
  const dir = tempDir();
  const certs = makeCertificates(dir.path);
  const server = await startDlogd({
    dataDir: join(dir.path, "data"),
    args: ["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey, "--tls-client-ca", certs.ca],
  });
  try {
    const { readFileSync } = await import("node:fs");
    const anonymous = createChannel(server.address, ChannelCredentials.createSsl(readFileSync(certs.ca)));
    const refused = await statusOf(createClient(LogServiceDefinition, anonymous).listLogs({}));
    assert.equal(refused.code, Status.UNAVAILABLE, `got ${Status[refused.code]}`);
    anonymous.close();

    const identified = createChannel(
      server.address,
      ChannelCredentials.createSsl(readFileSync(certs.ca), readFileSync(certs.clientKey), readFileSync(certs.clientCert)),
    );
    const listed = await createClient(LogServiceDefinition, identified).listLogs({});
    assert.deepEqual(listed.logs, []);
    identified.close();
  } finally {
    await server.stop();
    dir.cleanup();
  }
});

test("bearer tokens: no token or a wrong one gets nothing; each token may do only what its patterns allow", TIMEOUT, async () => {
  const dir = tempDir();
  const tokensFile = join(dir.path, "tokens.json");
  writeFileSync(
    tokensFile,
    JSON.stringify({
      tokens: [
        { name: "orders-writer", token: "writer-secret-0001", allow: { append: ["orders-*"], read: ["orders-*"] } },
        { name: "auditor", token: "reader-secret-0001", allow: { read: ["*"] } },
        { name: "operator", token: "admin-secret-00001", allow: { admin: ["*"], read: ["*"], append: ["*"] } },
      ],
    }),
  );
  const server = await startDlogd({ dataDir: join(dir.path, "data"), args: ["--auth-tokens", tokensFile] });
  const clients = connect(server.address);
  const as = (token: string) => ({ metadata: Metadata({ authorization: `Bearer ${token}` }) });
  try {
    const missing = await statusOf(clients.logs.listLogs({}));
    assert.equal(missing.code, Status.UNAUTHENTICATED);
    assert.match(missing.details, /missing bearer token/);
    const wrong = await statusOf(clients.logs.listLogs({}, as("not-a-real-token")));
    assert.equal(wrong.code, Status.UNAUTHENTICATED);
    assert.match(wrong.details, /unknown bearer token/);

    await clients.logs.append({ log: "orders-1", records: [{ payload: bytes("o1") }] }, as("writer-secret-0001"));
    const outside = await statusOf(clients.logs.append({ log: "payroll", records: [{ payload: bytes("p") }] }, as("writer-secret-0001")));
    assert.equal(outside.code, Status.PERMISSION_DENIED);
    assert.match(outside.details, /may not append log "payroll"/);
    const readOnly = await statusOf(clients.logs.append({ log: "orders-1", records: [{ payload: bytes("x") }] }, as("reader-secret-0001")));
    assert.equal(readOnly.code, Status.PERMISSION_DENIED);
    const notAdmin = await statusOf(clients.logs.deleteLog({ log: "orders-1" }, as("writer-secret-0001")));
    assert.equal(notAdmin.code, Status.PERMISSION_DENIED);

    await clients.logs.append({ log: "payroll", records: [{ payload: bytes("p") }] }, as("admin-secret-00001"));
    const visible = await clients.logs.listLogs({}, as("writer-secret-0001"));
    assert.deepEqual(
      visible.logs.map((log) => log.log),
      ["orders-1"],
      "ListLogs shows only logs the token may read",
    );
    assert.equal((await clients.logs.listLogs({}, as("reader-secret-0001"))).logs.length, 2);

    // The session's open names the log; a token without read on it is refused before anything is delivered.
    async function* openPayroll(): AsyncGenerator<SessionRequest> {
      yield { kind: { $case: "open", value: { log: "payroll", readerId: "r", resumePolicy: 0, takeover: 0, ackWaitMs: 0 } } };
    }
    const readers = createClient(ReaderServiceDefinition, clients.channel);
    const session = await statusOf(
      (async () => {
        for await (const frame of readers.session(openPayroll(), as("writer-secret-0001"))) void frame;
      })(),
    );
    assert.equal(session.code, Status.PERMISSION_DENIED);

    const health = await createClient(HealthDefinition, clients.channel).check({ service: "" });
    assert.equal(health.status, 1, "health needs no token");
  } finally {
    clients.close();
    await server.stop();
    dir.cleanup();
  }
});
