/**
 * The TypeScript client (clients/typescript) as its users call it: one record per
 * `appender.append()` call, and the high-level reader acking every record.
 */
import { type AppenderOptions, createDlogClient } from "../clients/typescript/src/index.js";
import { deadline } from "./stats.js";

export interface ClientRun {
  records: number;
  ms: number;
}

/**
 * `count` appends of one `size`-byte record each through one Appender, each call waiting only
 * for `ready()` (the appender's own bound), every answer awaited at the end.
 */
export async function appenderSingles(address: string, log: string, count: number, size: number, timeoutMs: number): Promise<ClientRun> {
  const client = createDlogClient({ address });
  const expired = deadline(timeoutMs);
  try {
    const appender = client.appender(log);
    const payload = Buffer.alloc(size, 0x61);
    const answers: Promise<unknown>[] = [];
    const t0 = performance.now();
    // The clock every 256 appends (see readerDeliverAck).
    for (let i = 0; i < count && ((i & 255) !== 0 || !expired()); i++) {
      await appender.ready();
      answers.push(appender.append(payload));
    }
    await Promise.all(answers);
    const ms = performance.now() - t0;
    await appender.close();
    return { records: answers.length, ms };
  } finally {
    client.close();
  }
}

/** Runs `body` with an appender of `log` (the client's defaults, or `options`), then closes it and its client. */
export async function withAppender<T>(
  address: string,
  log: string,
  body: (append: (payload: Buffer) => Promise<unknown>) => Promise<T>,
  options: AppenderOptions = {},
): Promise<T> {
  const client = createDlogClient({ address });
  try {
    const appender = client.appender(log, options);
    try {
      return await body((payload) => appender.append(payload));
    } finally {
      await appender.close().catch(() => undefined);
    }
  } finally {
    client.close();
  }
}

/** A fresh reader catching up on `log` with the high-level reader, `record.ack()` for each, until `count` records; leaving the loop drains. */
export async function readerDeliverAck(address: string, log: string, readerId: string, count: number, timeoutMs: number): Promise<ClientRun> {
  const client = createDlogClient({ address });
  const expired = deadline(timeoutMs);
  try {
    const t0 = performance.now();
    let records = 0;
    for await (const record of client.reader({ log, readerId, fallback: "earliest" })) {
      record.ack();
      // The clock every 256 records: read per record, it was 4 % of the client's CPU (profile of this loop).
      if (++records >= count || ((records & 255) === 0 && expired())) break;
    }
    return { records, ms: performance.now() - t0 };
  } finally {
    client.close();
  }
}
