/** TLS to an IP address: the certificate is checked against the IP, and no DEP0123 warning (SNI with an IP). */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { makeCertificates } from "../../../test/helpers/tls.js";
import { DlogError, Status } from "../src/index.js";
import { startTestServer } from "../src/testing.js";

const dlogd = process.env.DLOG_DLOGD || fileURLToPath(new URL("../../../../bin/dlogd.js", import.meta.url));

test("TLS to 127.0.0.1: served, verified against the IP, and Node warns about nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dlog-tls-"));
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on("warning", onWarning);
  try {
    const certs = makeCertificates(dir);
    await using server = await startTestServer({ dlogd, args: ["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey] });
    assert.match(server.address, /^127\.0\.0\.1:/);
    {
      await using client = server.client({ tls: { ca: certs.ca } });
      const [dlsn] = await client.append("tls", "over TLS");
      assert.equal(dlsn?.toString(), "1/0/0");
    }
    // The certificate is still checked: a CA that did not sign it is refused.
    mkdirSync(join(dir, "other"));
    const other = makeCertificates(join(dir, "other"));
    await using stranger = server.client({ tls: { ca: other.ca }, callTimeoutMs: 5_000 });
    await assert.rejects(stranger.getLog("tls"), (error) => error instanceof DlogError && error.code === Status.UNAVAILABLE);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    assert.deepEqual(
      warnings.map((warning) => `${warning.name}: ${warning.message}`),
      [],
    );
  } finally {
    process.off("warning", onWarning);
    rmSync(dir, { recursive: true, force: true });
  }
});
