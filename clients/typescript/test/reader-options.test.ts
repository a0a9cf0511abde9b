import assert from "node:assert/strict";
import { test } from "node:test";
import { DLSN } from "../../../src/dlsn.js";
import { ResumePolicy, Takeover } from "../src/gen/dlog/v1/reader.js";
import { openMessage } from "../src/reader-options.js";

const options = {
  log: "orders",
  readerId: "billing",
  checkpoint: new DLSN(1n, 7n, 0n),
  resumePolicy: "max" as const,
  takeover: "reject" as const,
  ackWaitMs: 1500,
};

test("the first open carries the override, the client checkpoint and the resume policy", () => {
  const open = openMessage(options, new DLSN(1n, 3n, 0n), { maxBatchRecords: 8 }, true);
  assert.equal(open.resumePolicy, ResumePolicy.RESUME_POLICY_MAX);
  assert.notEqual(open.clientCheckpoint, undefined);
  assert.notEqual(open.override, undefined);
  assert.equal(open.takeover, Takeover.TAKEOVER_REJECT);
  assert.equal(open.ackWaitMs, 1500);
  assert.equal(open.flow?.maxBatchRecords, 8);
});

test("a reconnect resumes from the stored position: no checkpoint, the stored policy", () => {
  const open = openMessage(options, undefined, undefined, false);
  assert.equal(open.resumePolicy, ResumePolicy.RESUME_POLICY_STORED);
  assert.equal(open.clientCheckpoint, undefined);
  assert.equal(open.override, undefined);
  assert.equal(open.flow, undefined);
});
