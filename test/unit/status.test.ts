/**
 * The status mapping, for the reasons only faults raise (DISK_FULL, STORAGE_UNAVAILABLE,
 * INTERNAL): what the middleware throws and the grpc-status-details-bin trailer it sets.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { type CallContext, Metadata, type ServerMiddlewareCall, Status } from "nice-grpc";
import { ErrorInfo } from "nice-grpc-error-details";
import { DlogError } from "../../src/errors.js";
import { createLogger } from "../../src/server/logger.js";
import { statusMiddleware } from "../../src/server/status.js";
import { storageError } from "../../src/storage/storage.js";

/** google.rpc.Status { code = 1; message = 2; repeated Any details = 3 }, Any { type_url = 1; bytes value = 2 }. */
function decodeStatus(bytes: Uint8Array): { code: number; message: string; details: Array<{ typeUrl: string; value: Uint8Array }> } {
  const reader = new BinaryReader(bytes);
  const status = { code: 0, message: "", details: [] as Array<{ typeUrl: string; value: Uint8Array }> };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) status.code = reader.int32();
    else if (field === 2) status.message = reader.string();
    else if (field === 3) {
      const any = new BinaryReader(reader.bytes());
      const detail: { typeUrl: string; value: Uint8Array } = { typeUrl: "", value: new Uint8Array() };
      while (any.pos < any.len) {
        const [anyField, anyWire] = any.tag();
        if (anyField === 1) detail.typeUrl = any.string();
        else if (anyField === 2) detail.value = any.bytes();
        else any.skip(anyWire);
      }
      status.details.push(detail);
    } else reader.skip(wireType);
  }
  return status;
}

/** Runs the status middleware around a method that throws `error`; returns the status and ErrorInfo the client would get. */
async function refusalOf(error: unknown): Promise<{ code: Status; message: string; info: ErrorInfo }> {
  const trailer = Metadata();
  const context = { trailer, metadata: Metadata(), signal: new AbortController().signal } as unknown as CallContext;
  const call = {
    method: { path: "/dlog.v1.LogService/Append", requestStream: false, responseStream: false, options: {} },
    requestStream: false,
    responseStream: false,
    request: {},
    // biome-ignore lint/correctness/useYield: a handler that fails before its first message
    next: async function* () {
      throw error;
    },
  } as unknown as ServerMiddlewareCall<object, object>;
  const middleware = statusMiddleware(createLogger("error", { write: () => undefined }));
  await assert.rejects(async () => {
    for await (const _ of middleware(call, context));
  });
  const details = trailer.get("grpc-status-details-bin");
  assert.ok(details instanceof Uint8Array, "grpc-status-details-bin is set");
  const status = decodeStatus(details);
  assert.equal(status.details.length, 1);
  assert.equal(status.details[0]!.typeUrl, "type.googleapis.com/google.rpc.ErrorInfo");
  return { code: status.code, message: status.message, info: ErrorInfo.decode(status.details[0]!.value) };
}

test("a write that fails for lack of space is RESOURCE_EXHAUSTED, reason DISK_FULL", async () => {
  const cause = Object.assign(new Error("IO error: 000012.log: No space left on device"), { code: "LEVEL_IO_ERROR" });

  const { code, info } = await refusalOf(storageError("storage write failed", cause));

  assert.equal(Status[code], "RESOURCE_EXHAUSTED");
  assert.equal(info.reason, "DISK_FULL");
  assert.equal(info.domain, "dlog.v1");
});

test("any other storage failure is UNAVAILABLE, reason STORAGE_UNAVAILABLE", async () => {
  const { code, info } = await refusalOf(storageError("storage write failed", new Error("Corruption: bad block")));

  assert.equal(Status[code], "UNAVAILABLE");
  assert.equal(info.reason, "STORAGE_UNAVAILABLE");
  assert.equal(info.domain, "dlog.v1");
});

test("an unexpected exception is INTERNAL, reason INTERNAL, never UNKNOWN", async () => {
  const { code, message, info } = await refusalOf(new TypeError("x is undefined"));

  assert.equal(Status[code], "INTERNAL");
  assert.match(message, /x is undefined/);
  assert.equal(info.reason, "INTERNAL");
});

test("a DlogError's reason and metadata travel unchanged", async () => {
  const error = new DlogError("FAILED_PRECONDITION", "txid out of order", { reason: "TXID_OUT_OF_ORDER", metadata: { log: "a", txid: "1" } });

  const { code, info } = await refusalOf(error);

  assert.equal(Status[code], "FAILED_PRECONDITION");
  assert.deepEqual({ reason: info.reason, metadata: info.metadata }, { reason: "TXID_OUT_OF_ORDER", metadata: { log: "a", txid: "1" } });
});
