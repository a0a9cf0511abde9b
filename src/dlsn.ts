import { DlogError } from "./errors.js";

const SERIALIZED_LENGTH = 25;
const VERSION_V1 = 1;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function checkInt64(name: string, value: bigint): void {
  if (typeof value !== "bigint" || value < INT64_MIN || value > INT64_MAX) {
    throw new DlogError("INVALID_ARGUMENT", `DLSN ${name} must be a signed 64-bit integer, got ${String(value)}`, {
      reason: "INVALID_DLSN",
      metadata: { field: name, value: String(value) },
    });
  }
}

export interface DlsnFields {
  readonly segment: bigint;
  readonly entry: bigint;
  readonly slot: bigint;
}

/**
 * DistributedLog Sequence Number: `(segment, entry, slot)`, three signed int64
 * ordered field by field. Immutable; bigint fields so no value loses precision.
 *
 * @example
 * const at = DLSN.parse("1/42/0");
 * at.serialize(); // DistributedLog's base64 form
 */
export class DLSN {
  /** The first record of a log: DistributedLog's `InitialDLSN`. */
  static readonly INITIAL = new DLSN(1n, 0n, 0n);
  /** Sorts before every record of segment 1: `NonInclusiveLowerBound`. */
  static readonly NON_INCLUSIVE_LOWER_BOUND = new DLSN(1n, 0n, -1n);
  /** Sorts before everything: `InvalidDLSN`. */
  static readonly INVALID = new DLSN(0n, -1n, -1n);

  readonly segment: bigint;
  readonly entry: bigint;
  readonly slot: bigint;

  constructor(segment: bigint, entry: bigint, slot: bigint) {
    checkInt64("segment", segment);
    checkInt64("entry", entry);
    checkInt64("slot", slot);
    this.segment = segment;
    this.entry = entry;
    this.slot = slot;
  }

  /** Negative, zero or positive as `this` sorts before, equal to or after `other`. */
  compare(other: DLSN): number {
    return DLSN.compareFields(this, other);
  }

  /** DLSN order over any `{segment, entry, slot}` (e.g. wire messages), without building DLSNs. */
  static compareFields(a: DlsnFields, b: DlsnFields): number {
    if (a.segment !== b.segment) return a.segment < b.segment ? -1 : 1;
    if (a.entry !== b.entry) return a.entry < b.entry ? -1 : 1;
    if (a.slot !== b.slot) return a.slot < b.slot ? -1 : 1;
    return 0;
  }

  equals(other: DLSN): boolean {
    return this.segment === other.segment && this.entry === other.entry && this.slot === other.slot;
  }

  isBefore(other: DLSN): boolean {
    return this.compare(other) < 0;
  }

  isAfter(other: DLSN): boolean {
    return this.compare(other) > 0;
  }

  /** The next slot in the same entry, as DistributedLog's `DLSN.getNextDLSN()`. */
  next(): DLSN {
    return new DLSN(this.segment, this.entry, this.slot + 1n);
  }

  /** The first slot of the next entry, as DistributedLog's `DLSN.getNextEntry()`. */
  nextEntry(): DLSN {
    return new DLSN(this.segment, this.entry + 1n, 0n);
  }

  /** The DLSN just before `this` in sort order within its entry (slot - 1): an exclusive lower bound. */
  justBefore(): DLSN {
    return new DLSN(this.segment, this.entry, this.slot - 1n);
  }

  /** DistributedLog's `DLSN.serializeBytes()` (version 1): 0x01 then three big-endian int64. */
  serializeBytes(): Buffer {
    const out = Buffer.allocUnsafe(SERIALIZED_LENGTH);
    out[0] = VERSION_V1;
    out.writeBigInt64BE(this.segment, 1);
    out.writeBigInt64BE(this.entry, 9);
    out.writeBigInt64BE(this.slot, 17);
    return out;
  }

  /** DistributedLog's `DLSN.serialize()`: standard base64 of `serializeBytes()`. */
  serialize(): string {
    return this.serializeBytes().toString("base64");
  }

  static deserializeBytes(bytes: Uint8Array): DLSN {
    if (bytes.length !== SERIALIZED_LENGTH) {
      throw new DlogError("INVALID_ARGUMENT", `serialized DLSN must be ${SERIALIZED_LENGTH} bytes (version byte + three int64), got ${bytes.length}`, {
        reason: "INVALID_DLSN",
        metadata: { length: String(bytes.length) },
      });
    }
    if (bytes[0] !== VERSION_V1) {
      throw new DlogError("INVALID_ARGUMENT", `unsupported serialized DLSN version ${bytes[0]}; only version 1 is known`, {
        reason: "INVALID_DLSN",
        metadata: { version: String(bytes[0]) },
      });
    }
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return new DLSN(view.readBigInt64BE(1), view.readBigInt64BE(9), view.readBigInt64BE(17));
  }

  /** Parses DistributedLog's base64 string form. */
  static deserialize(text: string): DLSN {
    if (!/^[A-Za-z0-9+/]{34}==$/.test(text)) {
      throw new DlogError(
        "INVALID_ARGUMENT",
        `"${text}" is not a serialized DLSN: expected 36 characters of standard base64 (e.g. AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAA==)`,
        { reason: "INVALID_DLSN", metadata: { value: text.slice(0, 60) } },
      );
    }
    return DLSN.deserializeBytes(Buffer.from(text, "base64"));
  }

  /** Accepts the human form `segment/entry/slot` (e.g. `1/42/0`) or the base64 form. */
  static parse(text: string): DLSN {
    const human = /^(-?\d+)\/(-?\d+)\/(-?\d+)$/.exec(text.trim());
    if (human) return new DLSN(BigInt(human[1]!), BigInt(human[2]!), BigInt(human[3]!));
    if (text.includes("/") && !text.endsWith("==")) {
      throw new DlogError("INVALID_ARGUMENT", `"${text}" is not a DLSN: use segment/entry/slot (e.g. 1/42/0) or the base64 form`, {
        reason: "INVALID_DLSN",
        metadata: { value: text.slice(0, 60) },
      });
    }
    return DLSN.deserialize(text.trim());
  }

  /** The human form, `segment/entry/slot`. */
  toString(): string {
    return `${this.segment}/${this.entry}/${this.slot}`;
  }

  static max(a: DLSN, b: DLSN): DLSN {
    return a.compare(b) >= 0 ? a : b;
  }
}
