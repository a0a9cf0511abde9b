import type { DLSN } from "../../../src/dlsn.js";
import type { DLSN as WireDLSN, Record as WireRecord } from "./gen/dlog/v1/common.js";
import { RecordFrame } from "./record-frame.js";

/** One record of a log, as `read()` yields it. */
export class LogRecord {
  /** The frame the record came in and its index there: its fields are decoded from it when read (record-frame.ts). */
  protected readonly frame: RecordFrame;
  protected readonly index: number;
  #dlsn: DLSN | undefined;
  #payload: Buffer | undefined;

  constructor(wire: WireRecord);
  /** @internal */
  constructor(frame: RecordFrame, index: number);
  constructor(source: WireRecord | RecordFrame, index = 0) {
    this.frame = source instanceof RecordFrame ? source : RecordFrame.of({ records: [source] });
    this.index = index;
  }

  /** Built on first use: most consumers never look at it. */
  get dlsn(): DLSN {
    return (this.#dlsn ??= this.frame.dlsn(this.index));
  }

  /** @internal the wire DLSN, for ack bookkeeping: a new object */
  get wireDlsn(): WireDLSN {
    return this.frame.wireDlsn(this.index);
  }

  get txid(): bigint {
    return this.frame.txid(this.index);
  }

  /** Append time, ms since the epoch. */
  get appendTimeMs(): number {
    return this.frame.appendTimeMs(this.index);
  }

  /** The same Buffer each time; a reader's record's is a view of the frame it came in (so keeping it keeps that frame's bytes alive). */
  get payload(): Buffer {
    return (this.#payload ??= this.frame.payload(this.index));
  }

  /** 0-based position of the record in its log since the log was created. */
  get sequenceId(): bigint {
    return this.frame.sequenceId(this.index);
  }

  /** The payload decoded as UTF-8. */
  text(): string {
    return this.payload.toString("utf8");
  }
}
