/** The CLI's pure parts: addresses, positions in words, payload encodings, when progress shows. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { DLSN, LogRecord } from "../../clients/typescript/src/index.js";
import { dlogAddress } from "../../src/cli/context.js";
import { UsageError } from "../../src/cli/exit-codes.js";
import { floorText, recordFormatter, resumeText } from "../../src/cli/format.js";
import { progressWanted, startProgress } from "../../src/cli/progress.js";
import { loadServerConfig } from "../../src/server/config.js";
import { parseDuration } from "../../src/duration.js";

test("--addr without a port dials 7070; a bad address is refused naming it", () => {
  assert.equal(dlogAddress("nohost"), "nohost:7070");
  assert.equal(dlogAddress("10.1.2.3"), "10.1.2.3:7070");
  assert.equal(dlogAddress("[::1]"), "[::1]:7070");
  assert.equal(dlogAddress("db.example:9000"), "db.example:9000");
  assert.equal(dlogAddress("dns:///db.example:9000"), "dns:///db.example:9000");
  for (const bad of ["h:abc", "h:", ":7070", "::1", "h:0", "h:70000"]) {
    assert.throws(
      () => dlogAddress(bad),
      (error: unknown) => error instanceof UsageError && error.message.includes(`"${bad}"`),
      bad,
    );
  }
});

test("a floor before the first record reads as words; a real floor as its DLSN", () => {
  const first = new DLSN(1n, 0n, 0n);
  assert.equal(floorText(DLSN.NON_INCLUSIVE_LOWER_BOUND, first), "none (before the first record)");
  assert.equal(floorText(DLSN.NON_INCLUSIVE_LOWER_BOUND, undefined), "none (before the first record)");
  assert.equal(floorText(DLSN.INVALID, undefined), "none (before the first record)");
  assert.equal(floorText(new DLSN(2n, 7n, 3n), new DLSN(3n, 0n, 0n)), "none (before the first record)", "below a truncated log's first record");
  assert.equal(floorText(new DLSN(1n, 4n, -1n), first), "before 1/4/0");
  assert.equal(floorText(new DLSN(1n, 4n, 2n), first), "1/4/2");
  assert.equal(floorText(undefined, first), "none");
  assert.equal(resumeText(DLSN.NON_INCLUSIVE_LOWER_BOUND, first), "from the start");
  assert.equal(resumeText(new DLSN(1n, 4n, -1n), first), "at 1/4/0");
  assert.equal(resumeText(new DLSN(1n, 4n, 2n), first), "after 1/4/2");
});

function record(payload: Buffer): LogRecord {
  return new LogRecord({ dlsn: { segment: 1n, entry: 2n, slot: 3n }, txid: 7n, appendTimeMs: 0n, payload, sequenceId: 0n, attempt: 0 });
}

test("json payloads: text when valid UTF-8, base64 otherwise, the encoding named; --payload forces one", () => {
  const binary = Buffer.from([0xff, 0x00, 0xc3]);
  const json = recordFormatter(true, undefined);
  assert.deepEqual(JSON.parse(json(record(Buffer.from("héllo")))), {
    dlsn: "1/2/3",
    txid: "7",
    time: "1970-01-01T00:00:00.000Z",
    payload: "héllo",
    encoding: "text",
  });
  const object = JSON.parse(json(record(binary)));
  assert.equal(object.encoding, "base64");
  assert.deepEqual(Buffer.from(object.payload, "base64"), binary, "no byte lost");
  assert.equal(JSON.parse(recordFormatter(true, "hex")(record(binary))).payload, "ff00c3");
  assert.equal(recordFormatter(false, undefined)(record(Buffer.from("plain"))), "plain\n");
  assert.equal(recordFormatter(false, "base64")(record(binary)), "/wDD\n");
  assert.equal(recordFormatter(false, "hex")(record(binary)), "ff00c3\n");
});

test("progress shows only on a terminal, and not with --quiet", () => {
  assert.equal(progressWanted({ isTTY: true }, false), true);
  assert.equal(progressWanted({ isTTY: false }, false), false);
  assert.equal(progressWanted({}, false), false, "a pipe or a file has no isTTY");
  assert.equal(progressWanted({ isTTY: true }, true), false);
});

test("progress on a terminal: a count and rate while waiting, then one final line; nothing for short waits or elsewhere", async () => {
  const terminal = {
    isTTY: true,
    text: "",
    write(text: string) {
      this.text += text;
    },
  };
  const progress = startProgress({ verb: "read", total: 10, quiet: false, stream: terminal, delayMs: 0, intervalMs: 5 });
  progress.add(4);
  await sleep(50);
  assert.match(terminal.text, /read 4 of 10 records \([\d,]+\/s\)/);
  progress.done();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal escape that clears the line is what is tested
  assert.match(terminal.text, /\r\x1b\[Kread 4 records in \d+\.\d s \([\d,]+\/s\)\n$/);

  const quick = {
    isTTY: true,
    text: "",
    write(text: string) {
      this.text += text;
    },
  };
  const short = startProgress({ verb: "read", quiet: false, stream: quick, delayMs: 10_000 });
  short.add(1);
  short.done();
  assert.equal(quick.text, "", "a wait shorter than the delay shows nothing");

  const pipe = {
    text: "",
    write(text: string) {
      this.text += text;
    },
  };
  const piped = startProgress({ verb: "read", quiet: false, stream: pipe, delayMs: 0, intervalMs: 5 });
  piped.add(1);
  await sleep(30);
  piped.done();
  assert.equal(pipe.text, "");
});

test("dlogd and dlog share one duration syntax", () => {
  assert.equal(parseDuration("10s", "--timeout"), 10_000);
  assert.equal(parseDuration("250ms", "--timeout"), 250);
  assert.equal(loadServerConfig(["--heartbeat", "10s"], {}).heartbeatMs, 10_000);
  assert.throws(() => parseDuration("10000", "--timeout"), /--timeout: "10000" is not valid; expected a duration such as 100ms, 10s/);
  assert.throws(() => loadServerConfig(["--heartbeat", "10000"], {}), /--heartbeat: "10000" is not valid; expected a duration such as 100ms, 10s/);
});

test("dlogd --storage takes nats://HOST:PORT[,HOST:PORT...] and its NATS settings; anything else is refused naming the flag", () => {
  const nats = loadServerConfig(["--storage", "nats://127.0.0.1:4222,[::1]:4223", "--nats-replicas", "3", "--nats-prefix", "prod-1"], {});
  assert.deepEqual(nats.natsServers, ["127.0.0.1:4222", "[::1]:4223"]);
  assert.equal(nats.natsReplicas, 3);
  assert.equal(nats.natsPrefix, "prod-1");
  assert.deepEqual(loadServerConfig([], {}).natsServers, [], "the embedded LevelDB stays the default");
  const refused: Array<[string[], RegExp]> = [
    [["--storage", "redis://127.0.0.1:6379"], /--storage: "redis:\/\/127.0.0.1:6379" is not valid; expected nats:\/\/HOST:PORT/],
    [["--storage", "nats://127.0.0.1"], /--storage: "127.0.0.1" is not HOST:PORT/],
    [["--storage", "nats://127.0.0.1:4222", "--nats-replicas", "2"], /--nats-replicas: 2 is not valid; expected 1 or 3/],
    [["--storage", "nats://127.0.0.1:4222", "--nats-prefix", "a.b"], /--nats-prefix: "a.b" is not valid/],
    [["--storage", "nats://127.0.0.1:4222", "--in-memory"], /--in-memory has no meaning with it/],
    [["--storage", "nats://127.0.0.1:4222", "--data-dir", "/tmp/x"], /--data-dir has no meaning with it/],
    [["--storage", "nats://127.0.0.1:4222", "--nats-tls-cert", "c.pem"], /--nats-tls-cert and --nats-tls-key go together/],
    [["--nats-replicas", "3"], /--nats-replicas has no effect without --storage nats:\/\//],
  ];
  for (const [args, message] of refused) assert.throws(() => loadServerConfig(args, {}), message, args.join(" "));
});
