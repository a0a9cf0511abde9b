import { DLSN } from "../../../src/dlsn.js";
import type { DLSN as WireDLSN, Record as WireRecord } from "./gen/dlog/v1/common.js";

/** One record of a log, as `read()` yields it. */
export class LogRecord {
  /** The record as it came off the wire; its DLSN is compared without building a DLSN object. */
  protected readonly wire: WireRecord;
  #dlsn: DLSN | undefined;

  constructor(wire: WireRecord) {
    this.wire = wire;
  }

  /** Built on first use: most consumers never look at it. */
  get dlsn(): DLSN {
    const wire = this.wireDlsn;
    return (this.#dlsn ??= new DLSN(wire.segment, wire.entry, wire.slot));
  }

  /** @internal the wire DLSN, for ack bookkeeping */
  get wireDlsn(): WireDLSN {
    return this.wire.dlsn ?? { segment: 0n, entry: -1n, slot: -1n };
  }

  get txid(): bigint {
    return this.wire.txid;
  }

  /** Append time, ms since the epoch. */
  get appendTimeMs(): number {
    return Number(this.wire.appendTimeMs);
  }

  get payload(): Buffer {
    return this.wire.payload;
  }

  /** 0-based position of the record in its log since the log was created. */
  get sequenceId(): bigint {
    return this.wire.sequenceId;
  }

  /** The payload decoded as UTF-8. */
  text(): string {
    return this.wire.payload.toString("utf8");
  }
}
