import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client, credentials } from "@grpc/grpc-js";
import { DLSN } from "../../src/dlsn.js";
import { type Dlogd, REPO_ROOT, startDlogd, tempDir } from "../helpers/dlogd.js";

const GRPCURL = join(REPO_ROOT, ".tools", "bin", "grpcurl");
const MISSING = existsSync(GRPCURL) ? false : `grpcurl not found at ${GRPCURL}; \`make test\` installs it`;
const CALL = { timeout: 15_000 };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `grpcurl -plaintext FLAGS ADDRESS ARGS` (flags go before the address, the verb or method after). */
function grpcurl(flags: string[], address: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(GRPCURL, ["-plaintext", ...flags, address, ...args], { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") return reject(error);
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** grpcurl with `-d JSON` calling `method`; the call must succeed, its JSON answer is parsed. */
async function call(address: string, method: string, body: object): Promise<Record<string, unknown>> {
  const run = await grpcurl(["-emit-defaults", "-d", JSON.stringify(body)], address, method);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

// ---- a hand-rolled protobuf codec, just enough for reflection, so the check does not share code with the server ----

function varint(value: number): Buffer {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return Buffer.from(out);
}

function stringField(field: number, value: string): Buffer {
  const data = Buffer.from(value, "utf8");
  return Buffer.concat([varint((field << 3) | 2), varint(data.length), data]);
}

/** The length-delimited fields of one message, as [field number, bytes]; other wire types are skipped. */
function lengthDelimited(message: Buffer): Array<[number, Buffer]> {
  const fields: Array<[number, Buffer]> = [];
  let at = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = message[at++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
    }
  };
  while (at < message.length) {
    const tag = readVarint();
    const wireType = tag & 7;
    if (wireType === 0) readVarint();
    else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else if (wireType === 2) {
      const length = readVarint();
      fields.push([tag >>> 3, message.subarray(at, at + length)]);
      at += length;
    } else throw new Error(`unexpected wire type ${wireType}`);
  }
  return fields;
}

/** One ServerReflectionInfo exchange on `path` with a raw grpc-js client: one request, one response. */
function reflect(address: string, path: string, request: Buffer): Promise<Buffer> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    const stream = client.makeBidiStreamRequest<Buffer, Buffer>(
      path,
      (b) => b,
      (b) => b,
      { deadline: Date.now() + 10_000 },
    );
    stream.once("data", (response: Buffer) => {
      resolve(response);
      stream.cancel();
    });
    stream.once("error", reject);
    stream.write(request);
    stream.end();
  }).finally(() => client.close());
}

const LIST_SERVICES = stringField(7, "*");
const FILE_CONTAINING_LOG_SERVICE = stringField(4, "dlog.v1.LogService");

/** ServerReflectionResponse.list_services_response (6) → ServiceResponse (1) → name (1). */
function serviceNames(response: Buffer): string[] {
  const list = lengthDelimited(response).find(([field]) => field === 6)?.[1];
  assert.ok(list, "a list_services_response");
  return lengthDelimited(list)
    .filter(([field]) => field === 1)
    .map(([, service]) =>
      lengthDelimited(service)
        .find(([field]) => field === 1)![1]
        .toString("utf8"),
    );
}

/** ServerReflectionResponse.file_descriptor_response (4) → file_descriptor_proto (1) → FileDescriptorProto.name (1). */
function fileNames(response: Buffer): string[] {
  const files = lengthDelimited(response).find(([field]) => field === 4)?.[1];
  assert.ok(files, "a file_descriptor_response");
  return lengthDelimited(files)
    .filter(([field]) => field === 1)
    .map(([, file]) =>
      lengthDelimited(file)
        .find(([field]) => field === 1)![1]
        .toString("utf8"),
    );
}

describe("grpcurl drives dlogd through reflection", { skip: MISSING }, () => {
  const dir = tempDir();
  let server: Dlogd;
  before(async () => {
    server = await startDlogd({ dataDir: dir.path });
  });
  after(async () => {
    await server?.stop();
    dir.cleanup();
  });

  test("list shows the log service and the health service", CALL, async () => {
    const run = await grpcurl([], server.address, "list");

    assert.equal(run.code, 0, run.stderr);
    const services = run.stdout.trim().split("\n");
    assert.ok(services.includes("dlog.v1.LogService"), run.stdout);
    assert.ok(services.includes("grpc.health.v1.Health"), run.stdout);
  });

  test("describe dlog.v1.LogService shows its RPCs, streams included", CALL, async () => {
    const run = await grpcurl([], server.address, "describe", "dlog.v1.LogService");

    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /dlog\.v1\.LogService is a service/);
    assert.match(run.stdout, /rpc Append \( \.dlog\.v1\.AppendRequest \) returns \( \.dlog\.v1\.AppendResponse \)/);
    assert.match(run.stdout, /rpc AppendStream \( stream \.dlog\.v1\.AppendRequest \) returns \( stream \.dlog\.v1\.AppendResponse \)/);
    assert.match(run.stdout, /rpc Read \( \.dlog\.v1\.ReadRequest \) returns \( stream \.dlog\.v1\.ReadResponse \)/);
  });

  test("the health check answers SERVING, for the server and for the log service", CALL, async () => {
    assert.deepEqual(await call(server.address, "grpc.health.v1.Health/Check", {}), { status: "SERVING" });
    assert.deepEqual(await call(server.address, "grpc.health.v1.Health/Check", { service: "dlog.v1.LogService" }), { status: "SERVING" });
  });

  test("Append with JSON (payload in base64) and Read return the records", CALL, async () => {
    const appended = await call(server.address, "dlog.v1.LogService/Append", {
      log: "from-grpcurl",
      records: [{ payload: Buffer.from("hello").toString("base64") }, { payload: Buffer.from("world").toString("base64"), txid: "9999999999999" }],
      request_id: "7",
    });

    assert.deepEqual(appended.dlsns, [
      { segment: "1", entry: "0", slot: "0" },
      { segment: "1", entry: "0", slot: "1" },
    ]);
    assert.equal(appended.requestId, "7");
    assert.equal((appended.txids as string[])[1], "9999999999999");

    const read = await call(server.address, "dlog.v1.LogService/Read", { log: "from-grpcurl" });
    const records = read.records as Array<{ payload: string; dlsn: object; txid: string }>;
    assert.deepEqual(
      records.map((r) => Buffer.from(r.payload, "base64").toString()),
      ["hello", "world"],
    );
    assert.deepEqual(records[1]!.dlsn, { segment: "1", entry: "0", slot: "1" });

    // In JSON, dlsn_bytes is exactly DistributedLog's DLSN.serialize() string.
    const fromSlot1 = await call(server.address, "dlog.v1.LogService/Read", {
      log: "from-grpcurl",
      start: { dlsnBytes: new DLSN(1n, 0n, 1n).serialize() },
    });
    assert.deepEqual(
      (fromSlot1.records as Array<{ payload: string }>).map((r) => Buffer.from(r.payload, "base64").toString()),
      ["world"],
    );
  });

  test("a bad request fails in grpcurl with its status code and message", CALL, async () => {
    const body = JSON.stringify({ log: "bad name", records: [{ payload: "" }] });
    const run = await grpcurl(["-d", body], server.address, "dlog.v1.LogService/Append");

    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /Code: InvalidArgument/);
    assert.match(run.stderr, /invalid log "bad name"/);
  });

  test("grpcurl shows a refusal's ErrorInfo detail (reason, domain, metadata), on a stream too", CALL, async () => {
    const unary = await grpcurl(["-d", JSON.stringify({ log: "bad name", records: [{ payload: "" }] })], server.address, "dlog.v1.LogService/Append");
    const stream = await grpcurl(["-d", JSON.stringify({ log: "no-such-log" })], server.address, "dlog.v1.LogService/Read");

    assert.notEqual(unary.code, 0);
    assert.match(unary.stderr, /"@type": "type\.googleapis\.com\/google\.rpc\.ErrorInfo"/, unary.stderr);
    assert.match(unary.stderr, /"reason": "INVALID_NAME"/, unary.stderr);
    assert.match(unary.stderr, /"domain": "dlog\.v1"/, unary.stderr);
    assert.match(unary.stderr, /"value": "bad name"/, unary.stderr);
    assert.match(stream.stderr, /Code: NotFound/, stream.stderr);
    assert.match(stream.stderr, /"reason": "LOG_NOT_FOUND"/, stream.stderr);
    assert.match(stream.stderr, /"log": "no-such-log"/, stream.stderr);
  });

  test("reflection answers on both v1 and v1alpha paths", CALL, async () => {
    for (const version of ["v1", "v1alpha"]) {
      const path = `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`;

      const services = serviceNames(await reflect(server.address, path, LIST_SERVICES));
      const files = fileNames(await reflect(server.address, path, FILE_CONTAINING_LOG_SERVICE));

      assert.ok(services.includes("dlog.v1.LogService"), `${version}: ${services.join(", ")}`);
      assert.ok(services.includes("grpc.health.v1.Health"), `${version}: ${services.join(", ")}`);
      assert.ok(files.includes("dlog/v1/log.proto"), `${version}: ${files.join(", ")}`);
    }
  });
});
