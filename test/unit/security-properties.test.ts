/**
 * Property-based tests (fast-check, fixed seed): the DLSN parsers and the session message
 * handler fed random, hostile input. Whatever comes in, a failure is a DlogError (a deliberate
 * status, never UNKNOWN/INTERNAL), and a reader's position never moves backward or past what
 * was delivered.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DLSN } from "../../src/dlsn.js";
import { DlogError } from "../../src/errors.js";
import { DEFAULT_FLOW } from "../../src/sessions/flow-limits.js";
import type { SessionFrame } from "../../src/sessions/session.js";
import { MemoryLog, dlsnOf, memorySession, recordsOf } from "../helpers/memory-log.js";

const SEED = 8;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const int64 = fc.bigInt({ min: INT64_MIN, max: INT64_MAX });

function isDeliberate(error: unknown): boolean {
  return error instanceof DlogError && error.code !== "INTERNAL";
}

test("DLSN parsers: any text or bytes parse or fail with a DlogError; valid DLSNs round-trip", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.stringMatching(/^-?\d{1,25}\/-?\d{1,25}\/-?\d{1,25}$/)), (text) => {
      try {
        const dlsn = DLSN.parse(text);
        assert.equal(DLSN.parse(dlsn.toString()).compare(dlsn), 0);
      } catch (error) {
        assert.ok(isDeliberate(error), `DLSN.parse(${JSON.stringify(text)}) threw ${String(error)}`);
      }
    }),
    { seed: SEED, numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), (bytes) => {
      try {
        const dlsn = DLSN.deserializeBytes(bytes);
        assert.deepEqual([...dlsn.serializeBytes()], [...bytes]);
      } catch (error) {
        assert.ok(isDeliberate(error), `deserializeBytes threw ${String(error)}`);
      }
    }),
    { seed: SEED, numRuns: 2000 },
  );
  fc.assert(
    fc.property(int64, int64, int64, (segment, entry, slot) => {
      const dlsn = new DLSN(segment, entry, slot);
      assert.equal(DLSN.deserialize(dlsn.serialize()).compare(dlsn), 0);
      assert.equal(DLSN.parse(dlsn.serialize()).compare(dlsn), 0);
      assert.equal(DLSN.parse(dlsn.toString()).compare(dlsn), 0);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

/**
 * One client message, as the wire layer hands it to the session (DLSNs already parsed). A record
 * pick is resolved when the message is sent: mostly a record delivered by then, sometimes any
 * number (never delivered, past the log, before the start).
 */
type Pick = { delivered: boolean; n: number };
type Message =
  | { kind: "ack"; dlsns: Pick[]; upTo: Pick | undefined }
  | { kind: "nack"; dlsns: Pick[] }
  | { kind: "flow"; records: number; bytes: number; batch: number }
  | { kind: "pull" }
  | { kind: "drain" };

const pick: fc.Arbitrary<Pick> = fc.record({ delivered: fc.boolean(), n: fc.integer({ min: -2, max: 40 }) });
const mostlyDelivered: fc.Arbitrary<Pick> = fc.oneof(
  { weight: 20, arbitrary: fc.record({ delivered: fc.constant(true), n: fc.nat(1000) }) },
  { weight: 1, arbitrary: pick },
);
const message: fc.Arbitrary<Message> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("ack" as const),
      dlsns: fc.array(mostlyDelivered, { maxLength: 4 }),
      upTo: fc.option(mostlyDelivered, { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("nack" as const), dlsns: fc.array(mostlyDelivered, { maxLength: 2 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("flow" as const),
      records: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 20 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 2 ** 40) }),
      bytes: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 1000 }) }, { weight: 1, arbitrary: fc.constantFrom(-5, Number.MAX_SAFE_INTEGER) }),
      batch: fc.integer({ min: 0, max: 8 }),
    }),
  },
  { weight: 6, arbitrary: fc.constant({ kind: "pull" as const }) },
);

const dlsnAt = (n: number): DLSN => (n < 0 ? new DLSN(1n, 0n, BigInt(n)) : dlsnOf(n));
/** Records 1..delivered when `p.delivered` (record 1 when none is yet), else the raw number. */
const resolve = (p: Pick, delivered: number): DLSN => dlsnAt(p.delivered ? 1 + (p.n % Math.max(delivered, 1)) : p.n);

test("the session message handler fed random message sequences: failures are DlogErrors, the floor never moves back or past delivery", async () => {
  let applied = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 30 }), async (messages) => {
      const log = new MemoryLog(30);
      const session = memorySession(log, { flow: { ...DEFAULT_FLOW, maxOutstandingRecords: 8, maxBatchRecords: 3 }, maxHoles: 5 });
      const frames = session.frames()[Symbol.asyncIterator]();
      let delivered = -1; // highest record number delivered
      let floor = session.position().floor;
      let failure: unknown;
      const pull = async (): Promise<boolean> => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const next = await Promise.race([frames.next(), new Promise<"idle">((resolve) => (timer = setTimeout(() => resolve("idle"), 20)))]);
          if (next === "idle") return true;
          if (next.done) return false;
          const frame: SessionFrame = next.value;
          if (frame.kind === "records") for (const record of recordsOf(frame)) delivered = Math.max(delivered, Number(record.dlsn.entry));
          return true;
        } catch (error) {
          failure = error;
          return false;
        } finally {
          clearTimeout(timer);
        }
      };
      try {
        let open = (await pull()) && (await pull()); // opened, then the first records
        for (const m of [...messages, { kind: "drain" } as const]) {
          if (!open) break;
          switch (m.kind) {
            case "ack":
              session.handleAck(
                m.dlsns.map((p) => resolve(p, delivered)),
                m.upTo === undefined ? undefined : resolve(m.upTo, delivered),
              );
              break;
            case "nack":
              session.handleNack(m.dlsns.map((p) => resolve(p, delivered)));
              break;
            case "flow":
              session.handleFlow({ maxOutstandingRecords: m.records, maxOutstandingBytes: m.bytes, maxBatchRecords: m.batch });
              break;
            case "drain":
              session.handleDrain({ explicit: true });
              break;
            case "pull":
              break;
          }
          applied++;
          open = await pull();
          const now = session.position().floor;
          assert.ok(now.compare(floor) >= 0, `the floor moved back: ${floor.toString()} → ${now.toString()}`);
          assert.ok(now.compare(dlsnOf(Math.max(delivered, 0))) <= 0, `the floor ${now.toString()} passed the last delivered record ${delivered}`);
          floor = now;
        }
      } finally {
        session.handleGone();
      }
      if (failure !== undefined) assert.ok(isDeliberate(failure), `the session failed with ${String(failure)}`);
    }),
    { seed: SEED, numRuns: 150 },
  );
  // Hostile picks end a session by design (INVALID_ARGUMENT); this keeps enough sequences long enough to matter.
  assert.ok(applied > 600, `only ${applied} messages reached a live session: the sequences end too early to test much`);
});
