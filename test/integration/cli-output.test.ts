/** What dlog prints: payloads in the encoding asked for, positions in words for people and exact in JSON. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DLSN } from "../../clients/typescript/src/index.js";
import { type DlogOptions, dlog as runDlog, lines } from "../helpers/cli.js";
import { fixtureForFile } from "../helpers/fixture.js";

const fixture = fixtureForFile();

const dlog = (args: string[], options: DlogOptions = {}) => runDlog(args, { address: fixture.server.address, ...options });
const BINARY = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0a, 0xc3]);

test("read --format json keeps binary payloads whole: base64, and says so; text payloads stay text", { timeout: 30_000 }, async () => {
  await fixture.client.append("out-binary", [BINARY, "plain"]);
  const read = await dlog(["read", "--log", "out-binary", "--format", "json"]);
  assert.equal(read.code, 0, read.stderr);
  const [binary, plain] = lines(read.stdout).map((line) => JSON.parse(line));
  assert.equal(binary.encoding, "base64");
  assert.deepEqual(Buffer.from(binary.payload, "base64"), BINARY);
  assert.deepEqual([plain.encoding, plain.payload], ["text", "plain"]);
});

test("--payload base64 and hex print every payload so, in text and json, for read and tail", { timeout: 30_000 }, async () => {
  await fixture.client.append("out-encoded", [BINARY, "plain"]);
  const hex = await dlog(["read", "--log", "out-encoded", "--payload", "hex"]);
  assert.deepEqual(lines(hex.stdout), [BINARY.toString("hex"), Buffer.from("plain").toString("hex")]);
  const tailed = await dlog(["tail", "--log", "out-encoded", "--reader", "r", "--max", "2", "--payload", "base64", "--format", "json"]);
  assert.equal(tailed.code, 0, tailed.stderr);
  const objects = lines(tailed.stdout).map((line) => JSON.parse(line));
  assert.deepEqual(
    objects.map((object) => [object.encoding, Buffer.from(object.payload, "base64")]),
    [
      ["base64", BINARY],
      ["base64", Buffer.from("plain")],
    ],
  );
  const text = await dlog(["read", "--log", "out-encoded", "--payload", "text", "--from", "1/0/1"]);
  assert.deepEqual(lines(text.stdout), ["plain"]);
  const refused = await dlog(["read", "--log", "out-encoded", "--payload", "utf16"]);
  assert.equal(refused.code, 2);
});

test("before the first record is said in words; --format json keeps the exact DLSN", { timeout: 30_000 }, async () => {
  const dlsns = await fixture.client.append("out-words", ["a", "b", "c"]);
  const first = await dlog(["tail", "--log", "out-words", "--reader", "r", "--max", "1"]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /^resuming from the start \(no stored position\)$/m);
  assert.match(first.stderr, new RegExp(`^drained: 1 record, durable at ${dlsns[0]}$`, "m"));
  const again = await dlog(["tail", "--log", "out-words", "--reader", "r", "--max", "1"]);
  assert.match(again.stderr, new RegExp(`^resuming after ${dlsns[0]} \\(stored position\\)$`, "m"));
  assert.deepEqual(lines(again.stdout), ["b"]);

  assert.equal((await dlog(["readers", "seek", "--log", "out-words", "--reader", "r", "--to", "earliest", "--yes"])).code, 0);
  const position = await dlog(["readers", "position", "--log", "out-words", "--reader", "r"]);
  assert.match(position.stdout, /^floor: +none \(before the first record\)$/m);
  assert.doesNotMatch(position.stdout, /1\/0\/-1/);
  const json = JSON.parse((await dlog(["readers", "position", "--log", "out-words", "--reader", "r", "--format", "json"])).stdout);
  assert.equal(json.floor, DLSN.NON_INCLUSIVE_LOWER_BOUND.toString());
  const listed = await dlog(["readers", "ls", "--log", "out-words"]);
  assert.match(listed.stdout, /^r\s+none\s+0\s+3\s+no/m);
  const resumed = await dlog(["tail", "--log", "out-words", "--reader", "r", "--max", "1", "--from", dlsns[2]!.toString()]);
  assert.match(resumed.stderr, new RegExp(`^resuming after ${dlsns[1]} \\(--from\\)$`, "m"));
  assert.deepEqual(lines(resumed.stdout), ["c"]);
});

test("--quiet leaves stderr to errors", { timeout: 30_000 }, async () => {
  await fixture.client.append("out-quiet", ["a"]);
  const quiet = await dlog(["--quiet", "tail", "--log", "out-quiet", "--reader", "r", "--max", "1"]);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stdout, "a\n");
  assert.equal(quiet.stderr, "");
});
