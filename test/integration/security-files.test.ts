/**
 * The tokens file and the TLS files (issue 8, items 10 and 11): every bad input is one line
 * naming the setting, exit 2, never a secret; SIGHUP reloads the tokens without a restart.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ClientError, Metadata, Status } from "nice-grpc";
import { isLoopbackHost } from "../../src/server/config.js";
import { connect, dlogdExit, startDlogd, tempDir } from "../helpers/dlogd.js";
import { type Certificates, makeCertificates } from "../helpers/tls.js";

const SECRET = "s3cret-value-0123456789";
let dir: { path: string; cleanup: () => void };
let certs: Certificates;

before(() => {
  dir = tempDir();
  certs = makeCertificates(dir.path);
});
after(() => dir.cleanup());

const entry = (fields: Record<string, unknown>): Record<string, unknown> => ({ name: "app", token: SECRET, allow: { read: ["*"] }, ...fields });

/** Each bad tokens file: its text and what the one line must say. */
const BAD_TOKENS: Array<{ what: string; text: string; says: RegExp }> = [
  { what: "an unquoted token", text: `{"tokens": [{"name": "app", "token": ${SECRET}, "allow": {}}]}`, says: /is not valid JSON at line 1/ },
  { what: "a null entry", text: `{"tokens": [null]}`, says: /tokens\[0\] must be an object/ },
  { what: "no tokens", text: `{"tokens": []}`, says: /expected \{"tokens": \[/ },
  { what: "a list at the top", text: `[]`, says: /expected \{"tokens": \[/ },
  { what: "JSON null", text: `null`, says: /expected \{"tokens": \[/ },
  {
    what: "an 8-character token",
    text: JSON.stringify({ tokens: [entry({ token: "abcdefgh" })] }),
    says: /tokens\[0\]\.token \("app"\) is too short: tokens need at least 16 characters/,
  },
  {
    what: "surrounding spaces",
    text: JSON.stringify({ tokens: [entry({ token: ` ${SECRET} ` })] }),
    says: /tokens\[0\]\.token \("app"\) has spaces at its start or end/,
  },
  {
    what: "a duplicate token",
    text: JSON.stringify({ tokens: [entry({}), entry({ name: "other" })] }),
    says: /tokens\[1\]\.token \("other"\) is the same as the token of tokens\[0\]/,
  },
  {
    what: "a duplicate name",
    text: JSON.stringify({ tokens: [entry({}), entry({ token: `${SECRET}-2` })] }),
    says: /tokens\[1\]\.name "app" is also the name of tokens\[0\]/,
  },
  // 16 digits, as long as a token must be, and exact as a JS number (no lint suppression to keep beside it).
  {
    what: "a token that is a number",
    text: JSON.stringify({ tokens: [entry({ token: 1234567890123456 })] }),
    says: /tokens\[0\]\.token \("app"\) must be a string/,
  },
  {
    what: "a token with a control character",
    text: JSON.stringify({ tokens: [entry({ token: `${SECRET}\u0007` })] }),
    says: /may contain only printable ASCII/,
  },
  {
    what: "an unknown right",
    text: JSON.stringify({ tokens: [entry({ allow: { write: ["*"] } })] }),
    says: /tokens\[0\]\.allow has an unknown right "write"; rights are append, read, seek, admin/,
  },
  { what: "a misspelt field", text: JSON.stringify({ tokens: [entry({ alow: {} })] }), says: /tokens\[0\] has an unknown field "alow"/ },
  {
    what: "a pattern with a slash",
    text: JSON.stringify({ tokens: [entry({ allow: { read: ["orders/*"] } })] }),
    says: /tokens\[0\]\.allow\.read\[0\] must be a name pattern/,
  },
  {
    what: "patterns that are not a list",
    text: JSON.stringify({ tokens: [entry({ allow: { read: "*" } })] }),
    says: /tokens\[0\]\.allow\.read must be a list/,
  },
  { what: "no allow", text: JSON.stringify({ tokens: [{ name: "app", token: SECRET }] }), says: /tokens\[0\]\.allow must be an object of rights/ },
  { what: "readers that are not a list", text: JSON.stringify({ tokens: [entry({ readers: "etl-*" })] }), says: /tokens\[0\]\.readers must be a list/ },
  { what: "a missing name", text: JSON.stringify({ tokens: [{ token: SECRET, allow: {} }] }), says: /tokens\[0\]\.name must be a name/ },
];

function assertOneLine(result: { code: number | null; stderr: string }, says: RegExp, flag: string): void {
  assert.equal(result.code, 2, `exit code 2, got ${result.code}: ${result.stderr}`);
  const lines = result.stderr.split("\n").filter((line) => line !== "");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.ok(lines[0]!.startsWith(`dlogd: ${flag}`), `the line names ${flag}: ${lines[0]}`);
  assert.match(lines[0]!, says);
  assert.ok(!result.stderr.includes("s3cret"), `no secret on stderr: ${lines[0]}`);
  assert.ok(!result.stderr.includes("PRIVATE KEY"), "no key material on stderr");
}

for (const { what, text, says } of BAD_TOKENS) {
  test(`a tokens file with ${what}: one line naming --auth-tokens, exit 2, no secret`, { timeout: 20_000 }, async () => {
    const file = join(dir.path, "tokens.json");
    writeFileSync(file, text);
    assertOneLine(await dlogdExit(["--data-dir", join(dir.path, "data"), "--auth-tokens", file]), says, "--auth-tokens");
  });
}

test("a tokens file that does not exist: one line, exit 2", { timeout: 20_000 }, async () => {
  assertOneLine(
    await dlogdExit(["--data-dir", join(dir.path, "data"), "--auth-tokens", join(dir.path, "missing.json")]),
    /cannot read it \(ENOENT\)/,
    "--auth-tokens",
  );
});

test("bad TLS files: each one line naming its flag, exit 2, never key material", { timeout: 60_000 }, async () => {
  const garbage = join(dir.path, "garbage.pem");
  writeFileSync(garbage, "this is not a certificate\n");
  const fakePem = join(dir.path, "fake.pem");
  writeFileSync(fakePem, "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n");
  const data = ["--data-dir", join(dir.path, "data")];
  const cases: Array<{ args: string[]; flag: string; says: RegExp }> = [
    { args: ["--tls-cert", garbage, "--tls-key", certs.serverKey], flag: "--tls-cert", says: /no PEM certificate in it/ },
    { args: ["--tls-cert", fakePem, "--tls-key", certs.serverKey], flag: "--tls-cert", says: /certificate 1 of 1 is not a valid X\.509 certificate/ },
    { args: ["--tls-cert", certs.serverCert, "--tls-key", garbage], flag: "--tls-key", says: /not a PEM private key/ },
    { args: ["--tls-cert", certs.serverCert, "--tls-key", certs.clientKey], flag: "--tls-key", says: /is not the key of the certificate in --tls-cert/ },
    {
      args: ["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey, "--tls-client-ca", garbage],
      flag: "--tls-client-ca",
      says: /no PEM certificate in it/,
    },
    { args: ["--tls-cert", join(dir.path, "nope.pem"), "--tls-key", certs.serverKey], flag: "--tls-cert", says: /cannot read it \(ENOENT\)/ },
  ];
  for (const { args, flag, says } of cases) assertOneLine(await dlogdExit([...data, ...args]), says, flag);
});

test("tokens in clear text are warned about only off loopback", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "[::1]", "localhost"]) assert.ok(isLoopbackHost(host), host);
  for (const host of ["0.0.0.0", "[::]", "10.0.0.1", "example.com"]) assert.ok(!isLoopbackHost(host), host);
});

test("SIGHUP reloads the tokens file: a rotated token works at once, a bad file keeps the old set, dlogd never exits", { timeout: 60_000 }, async () => {
  const file = join(dir.path, "rotating.json");
  const tokensFile = (token: string): string => JSON.stringify({ tokens: [{ name: "app", token, allow: { read: ["*"], admin: ["*"] } }] });
  const first = "first-token-00000001";
  const second = "second-token-0000002";
  writeFileSync(file, tokensFile(first));
  const server = await startDlogd({ process: true, dataDir: join(dir.path, "hup"), args: ["--auth-tokens", file] });
  const clients = connect(server.address);
  const as = (token: string) => ({ metadata: Metadata({ authorization: `Bearer ${token}` }) });
  const codeOf = async (token: string): Promise<Status> => {
    try {
      await clients.logs.listLogs({}, as(token));
      return Status.OK;
    } catch (error) {
      assert.ok(error instanceof ClientError);
      return error.code;
    }
  };
  const hangUp = async (logLine: string, seen: number): Promise<void> => {
    server.child.kill("SIGHUP");
    const deadline = Date.now() + 10_000;
    while (server.output().split(logLine).length - 1 <= seen) {
      assert.ok(Date.now() < deadline, `no "${logLine}" log line after SIGHUP:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  try {
    assert.equal(await codeOf(first), Status.OK);
    writeFileSync(file, tokensFile(second));
    await hangUp('"msg":"tokens reloaded"', 0);
    assert.equal(await codeOf(second), Status.OK, "the rotated token works without a restart");
    assert.equal(await codeOf(first), Status.UNAUTHENTICATED, "the old token no longer works");

    writeFileSync(file, `{"tokens": [{"name": "app", "token": ${first}}]}`);
    await hangUp('"msg":"tokens not reloaded; the previous tokens stay in force"', 0);
    assert.match(server.output(), /is not valid JSON.*"msg":"tokens not reloaded/);
    assert.ok(!server.output().includes(first), "the log line shows no token");
    assert.equal(await codeOf(second), Status.OK, "a bad file keeps the tokens in force");
    assert.equal(server.child.exitCode, null, "dlogd is still running");
    assert.ok(readFileSync(file, "utf8").length > 0);
  } finally {
    clients.close();
    assert.equal(await server.stop(), 0, "a clean exit on SIGTERM after the SIGHUPs");
  }
});

test("SIGHUP without a tokens file does not stop dlogd", { timeout: 30_000 }, async () => {
  const server = await startDlogd({ process: true, dataDir: join(dir.path, "hup-plain") });
  try {
    server.child.kill("SIGHUP");
    const clients = connect(server.address);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual((await clients.logs.listLogs({})).logs, []);
    clients.close();
    assert.equal(server.child.exitCode, null);
  } finally {
    await server.stop();
  }
});
