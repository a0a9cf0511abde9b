import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { dlogdExit, startDlogd, tempDir } from "../helpers/dlogd.js";
import { makeCertificates } from "../helpers/tls.js";

const SERVER_TEST = { timeout: 30_000 };
const TOKEN = "metrics-scraper-token-0123456789";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the metrics port, over HTTPS when `ca` is given. */
function call(address: string, options: { method?: string; token?: string; path?: string; ca?: Buffer } = {}): Promise<Answer> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  const send = options.ca ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        host,
        port,
        path: options.path ?? "/metrics",
        method: options.method ?? "GET",
        headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
        timeout: 5_000,
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("metrics request timed out")));
    req.on("error", reject);
    req.end();
  });
}

describe("the metrics port (#8.12)", () => {
  const dir = tempDir("dlog-metrics-sec-");
  const tokenFile = join(dir.path, "metrics.token");
  let certs: ReturnType<typeof makeCertificates>;
  before(() => {
    writeFileSync(tokenFile, `${TOKEN}\n`);
    certs = makeCertificates(dir.path);
  });
  after(() => dir.cleanup());

  test("serves GET only: POST, PUT, DELETE get 405 with Allow: GET; a bare port binds loopback", SERVER_TEST, async () => {
    const server = await startDlogd({ args: ["--in-memory", "--metrics-listen", "0"] });
    try {
      assert.match(server.metricsAddress ?? "", /^127\.0\.0\.1:\d+$/);
      const got = await call(server.metricsAddress!);
      assert.equal(got.status, 200);
      assert.match(got.body, /^dlog_sessions_live 0$/m);
      for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
        const refused = await call(server.metricsAddress!, { method });
        assert.equal(refused.status, 405, method);
        assert.equal(refused.headers.allow, "GET");
        assert.doesNotMatch(refused.body, /dlog_/, "no metrics in a refusal");
      }
      assert.equal((await call(server.metricsAddress!, { path: "/other" })).status, 404);
    } finally {
      await server.stop();
    }
  });

  test("with --metrics-token-file: no token or a wrong one is 401, the token is 200", SERVER_TEST, async () => {
    const server = await startDlogd({ args: ["--in-memory", "--metrics-listen", "127.0.0.1:0", "--metrics-token-file", tokenFile] });
    try {
      const none = await call(server.metricsAddress!);
      assert.equal(none.status, 401);
      assert.match(String(none.headers["www-authenticate"]), /^Bearer/);
      assert.doesNotMatch(none.body, /dlog_/);
      assert.equal((await call(server.metricsAddress!, { token: `${TOKEN}x` })).status, 401);
      assert.equal((await call(server.metricsAddress!, { token: TOKEN.slice(0, -1) })).status, 401);
      const good = await call(server.metricsAddress!, { token: TOKEN });
      assert.equal(good.status, 200);
      assert.match(good.body, /^dlog_health_serving 1$/m);
      assert.ok(!server.output().includes(TOKEN), "the token is never logged");
    } finally {
      await server.stop();
    }
  });

  test("with --metrics-tls-cert/--metrics-tls-key: HTTPS, and plain HTTP gets no metrics", SERVER_TEST, async () => {
    const server = await startDlogd({
      args: [
        "--in-memory",
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-tls-cert",
        certs.serverCert,
        "--metrics-tls-key",
        certs.serverKey,
        "--metrics-token-file",
        tokenFile,
      ],
    });
    try {
      const ca = readFileSync(certs.ca);
      const good = await call(server.metricsAddress!, { ca, token: TOKEN });
      assert.equal(good.status, 200);
      assert.match(good.body, /^process_resident_memory_bytes \d+/m);
      await assert.rejects(call(server.metricsAddress!, { token: TOKEN }), "plain HTTP to the HTTPS port fails");
    } finally {
      await server.stop();
    }
  });

  test("unusable metrics settings are one line naming the flag, exit 2, never the token", SERVER_TEST, async () => {
    const short = join(dir.path, "short.token");
    writeFileSync(short, "s3cret-short\n");
    const cases: Array<[string[], RegExp]> = [
      [["--metrics-listen", "127.0.0.1:0", "--metrics-token-file", short], /--metrics-token-file .*too short: at least 16 characters/],
      [["--metrics-listen", "127.0.0.1:0", "--metrics-token-file", join(dir.path, "missing")], /--metrics-token-file .*cannot read it \(ENOENT\)/],
      [["--metrics-token-file", tokenFile], /--metrics-token-file has no effect without --metrics-listen/],
      [["--metrics-listen", "127.0.0.1:0", "--metrics-tls-cert", certs.serverCert], /--metrics-tls-cert and --metrics-tls-key go together/],
      [
        ["--metrics-listen", "127.0.0.1:0", "--metrics-tls-cert", certs.serverCert, "--metrics-tls-key", certs.clientKey],
        /--metrics-tls-key .* is not the key of the certificate in --metrics-tls-cert/,
      ],
      [["--metrics-listen", "127.0.0.1:0", "--metrics-tls-cert", tokenFile, "--metrics-tls-key", certs.serverKey], /--metrics-tls-cert .*no PEM certificate/],
      [["--metrics-reader-labels", "some"], /--metrics-reader-labels: "some" is not valid; expected reader, log or none/],
    ];
    for (const [args, says] of cases) {
      const result = await dlogdExit(["--in-memory", ...args]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      const lines = result.stderr.split("\n").filter((line) => line !== "");
      assert.equal(lines.length, 1, `one line: ${result.stderr}`);
      assert.match(lines[0]!, says);
      assert.ok(!result.stderr.includes("s3cret") && !result.stderr.includes(TOKEN), "no secret on stderr");
    }
  });
});
