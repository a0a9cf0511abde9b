import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import {
  type AppendInput,
  ClientError,
  createDlogClient,
  type DlogClient,
  DLSN,
  DlogError,
  type LogInfo,
  type LogRecord,
  type ReaderPosition,
  type ReaderRecord,
  type StartAt,
  Status,
  parseStartAt,
} from "../../clients/typescript/src/index.js";

const HELP = `Usage: dlog [options] <command>

Commands:
  append --log L [RECORD...]        append each argument (or each stdin line) as a record; prints their DLSNs
  tail --log L --reader R [--max N] [--from POS]
                                    print records and ack each once printed; on exit (--max, Ctrl-C,
                                    SIGTERM) drain, so the next tail with the same reader goes on after it
  read --log L [--from POS] [--max N] [--follow]
                                    print records; no reader, no acks
  logs [ls] [--prefix P]            list logs
  logs describe|create|delete L     describe, create or delete a log
  logs truncate L --before DLSN     drop the whole segments before DLSN
  readers [ls] --log L              list the readers of a log
  readers position --log L --reader R
  readers seek --log L --reader R --to POS [--force]
  readers delete --log L --reader R [--force]

Options:
  --addr HOST:PORT   dlogd address (env DLOG_ADDR, default 127.0.0.1:7070)
  --token TOKEN      bearer token (env DLOG_TOKEN)
  --tls              use TLS (system roots unless --ca)
  --ca FILE          CA certificate (PEM); implies --tls
  --cert FILE        client certificate (PEM) for mutual TLS; implies --tls
  --key FILE         client key (PEM) for mutual TLS
  --format FMT       text (default) or json (one object per line)
  --timeout MS       deadline of each admin call (default 10000)
  -h, --help         this help

POS is earliest, latest, a DLSN (seg/entry/slot, e.g. 1/42/0, or DistributedLog's base64),
txid:N or time:ISO-DATE. Exit codes: 0 ok, 1 refused by the server, 2 bad usage,
3 server unreachable, 4 not authenticated or not permitted.`;

const OPTIONS = {
  addr: { type: "string" },
  token: { type: "string" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  format: { type: "string" },
  timeout: { type: "string" },
  log: { type: "string", short: "l" },
  reader: { type: "string", short: "r" },
  max: { type: "string", short: "n" },
  from: { type: "string" },
  follow: { type: "boolean", short: "f" },
  prefix: { type: "string" },
  before: { type: "string" },
  to: { type: "string" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>["values"];

/** A mistake on the command line: exit 2 with the message. */
class UsageError extends Error {}

interface Context {
  client: DlogClient;
  values: Values;
  args: string[];
  json: boolean;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; see dlog --help`);
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || command === undefined || command === "help") {
    await write(`${HELP}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  const format = values.format ?? "text";
  if (format !== "text" && format !== "json") throw new UsageError(`--format: "${format}" is not valid; expected text or json`);
  const address = values.addr ?? process.env.DLOG_ADDR ?? "127.0.0.1:7070";
  addressInUse = address;
  const timeoutMs = values.timeout === undefined ? 10_000 : positiveInteger(values.timeout, "--timeout");
  const tls = values.tls || values.ca !== undefined || values.cert !== undefined || values.key !== undefined;
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError("--cert and --key go together (mutual TLS)");
  const client = createDlogClient({
    address,
    token: values.token ?? (process.env.DLOG_TOKEN || undefined),
    tls: tls ? { ca: readPem(values.ca, "--ca"), cert: readPem(values.cert, "--cert"), key: readPem(values.key, "--key") } : false,
    callTimeoutMs: timeoutMs,
  });
  const context: Context = { client, values, args, json: format === "json" };
  try {
    switch (command) {
      case "append":
        return await append(context);
      case "tail":
        return await tail(context);
      case "read":
        return await read(context);
      case "logs":
        return await logs(context);
      case "readers":
        return await readers(context);
      default:
        throw new UsageError(`unknown command "${command}"; commands: append, tail, read, logs, readers (see dlog --help)`);
    }
  } finally {
    client.close();
  }
}

// ---- append ----

/** Lines from one stdin chunk go out as one append (one entry), at most this many records each. */
const STDIN_BATCH_RECORDS = 1000;
const STDIN_BATCH_BYTES = 512 * 1024;

async function append(context: Context): Promise<number> {
  const log = requireLog(context);
  const { client } = context;
  if (context.args.length > 0) {
    printDlsns(context, await client.append(log, context.args));
    return 0;
  }
  // Pipelined: batches are sent while stdin is still read; answers come back in order and are printed in order.
  const appender = client.appender(log);
  let printed = Promise.resolve();
  let failure: unknown;
  let batch: AppendInput[] = [];
  let batchBytes = 0;
  const send = (): void => {
    if (batch.length === 0) return;
    const answer = appender.append(batch);
    answer.catch(() => undefined);
    printed = printed.then(async () => {
      if (failure === undefined) printDlsns(context, await answer);
    }).catch((error: unknown) => {
      failure ??= error;
    });
    batch = [];
    batchBytes = 0;
  };
  let flushScheduled = false;
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (failure !== undefined) break;
    batch.push(line);
    batchBytes += Buffer.byteLength(line);
    if (batch.length >= STDIN_BATCH_RECORDS || batchBytes >= STDIN_BATCH_BYTES) send();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        send();
      });
    }
    await appender.ready(); // bounded: stdin is read only as fast as dlogd answers
  }
  send();
  await appender.flush();
  await printed;
  await appender.close();
  if (failure !== undefined) throw failure;
  return 0;
}

function printDlsns(context: Context, dlsns: DLSN[]): void {
  let out = "";
  for (const dlsn of dlsns) out += context.json ? `${JSON.stringify({ dlsn: dlsn.toString() })}\n` : `${dlsn.toString()}\n`;
  process.stdout.write(out);
}

// ---- tail and read ----

function recordLine(context: Context, record: LogRecord | ReaderRecord): string {
  if (!context.json) return `${record.text()}\n`;
  const json: Record<string, unknown> = {
    dlsn: record.dlsn.toString(),
    txid: record.txid.toString(),
    time: new Date(record.appendTimeMs).toISOString(),
    payload: record.text(),
  };
  if ("attempt" in record) {
    json.attempt = record.attempt;
    if (record.redelivered) json.redelivered = true;
  }
  return `${JSON.stringify(json)}\n`;
}

async function tail(context: Context): Promise<number> {
  const log = requireLog(context);
  const readerId = requireOption(context.values.reader, "--reader");
  const max = context.values.max === undefined ? Number.POSITIVE_INFINITY : positiveInteger(context.values.max, "--max");
  const from = context.values.from === undefined ? undefined : position(context.values.from, "--from");
  const { client } = context;
  await client.getLog(log); // one clear error now (unknown log, unreachable, not permitted) instead of a reconnect loop
  const reader = client.reader({
    log,
    readerId,
    from,
    // No point having more records out than we will print.
    flow: Number.isFinite(max) ? { maxOutstandingRecords: Math.min(max, 1000) } : undefined,
  });

  // Each record is acked once its line is written; close() must wait for the last of those callbacks.
  let unwritten = 0;
  let allWritten: (() => void) | undefined;
  const written = (): Promise<void> => (unwritten === 0 ? Promise.resolve() : new Promise((resolve) => (allWritten = resolve)));
  // e.g. `dlog tail | head`: stop, and leave what could not be printed unacked.
  const onBroken = (): void => void stop().catch(() => undefined);
  output.once("broken", onBroken);

  let stopping: Promise<DLSN | undefined> | undefined;
  const stop = (): Promise<DLSN | undefined> =>
    (stopping ??= (async () => {
      await written();
      return reader.close();
    })());
  const onSignal = (): void => {
    if (stopping) process.exit(130); // a second Ctrl-C: give up on the drain
    void stop().catch(() => undefined);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let count = 0;
  const records = reader[Symbol.asyncIterator]();
  try {
    while (count < max && !stopping) {
      const next = await records.next();
      if (next.done || stopping) break;
      const record = next.value;
      unwritten++;
      const flowing = process.stdout.write(recordLine(context, record), (error) => {
        if (!error) record.ack();
        if (--unwritten === 0 && allWritten) allWritten();
      });
      count++;
      if (!flowing) await drained();
    }
  } finally {
    await stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    output.off("broken", onBroken);
  }
  return 0;
}

async function read(context: Context): Promise<number> {
  const log = requireLog(context);
  const max = context.values.max === undefined ? undefined : positiveInteger(context.values.max, "--max");
  const from = context.values.from === undefined ? undefined : position(context.values.from, "--from");
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let out = "";
  let flushScheduled = false;
  // Lines gather while a server batch is being iterated and go out once per turn: a quiet --follow still prints at once.
  const flush = (): void => {
    flushScheduled = false;
    if (out !== "" && !broken) process.stdout.write(out);
    out = "";
  };
  try {
    output.once("broken", onSignal);
    for await (const record of context.client.read(log, { from, max, follow: context.values.follow ?? false, signal: abort.signal })) {
      out += recordLine(context, record);
      if (out.length >= 64 * 1024) {
        if (!process.stdout.write(out)) await drained();
        out = "";
      } else if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    output.off("broken", onSignal);
  }
  flush();
  return 0;
}

// ---- logs ----

async function logs(context: Context): Promise<number> {
  const [action = "ls", ...rest] = context.args;
  const { client } = context;
  const name = (): string => requireOption(context.values.log ?? rest[0], "log name (dlog logs ACTION LOG or --log LOG)");
  switch (action) {
    case "ls":
    case "list": {
      const infos = await client.listLogs(context.values.prefix ?? "");
      if (context.json) await write(infos.map((info) => `${JSON.stringify(logJson(info))}\n`).join(""));
      else await write(table(["LOG", "RECORDS", "BYTES", "FIRST", "LAST", "LAST TXID", "SEGMENTS"], infos.map((info) => [
        info.log,
        info.recordCount.toString(),
        info.byteCount.toString(),
        dlsnText(info.firstDlsn),
        dlsnText(info.lastDlsn),
        info.lastTxid.toString(),
        String(info.segments.length),
      ])));
      return 0;
    }
    case "describe":
    case "get":
      await printLog(context, await client.getLog(name()));
      return 0;
    case "create":
      await printLog(context, await client.createLog(name()));
      return 0;
    case "delete": {
      const log = name();
      const deleted = await client.deleteLog(log);
      await write(context.json ? `${JSON.stringify({ log, recordsDeleted: deleted.toString() })}\n` : `deleted ${log} (${deleted} records)\n`);
      return 0;
    }
    case "truncate": {
      const log = name();
      const before = dlsnArgument(context.values.before ?? rest[1], "--before");
      const result = await client.truncate(log, before);
      await write(
        context.json
          ? `${JSON.stringify({ log, segmentsDeleted: result.segmentsDeleted.toString(), recordsDeleted: result.recordsDeleted.toString(), firstDlsn: result.firstDlsn?.toString() ?? null })}\n`
          : `truncated ${log}: ${result.segmentsDeleted} segments, ${result.recordsDeleted} records deleted; first record now ${dlsnText(result.firstDlsn)}\n`,
      );
      return 0;
    }
    default:
      throw new UsageError(`unknown logs action "${action}"; expected ls, describe, create, delete or truncate`);
  }
}

function logJson(info: LogInfo): Record<string, unknown> {
  return {
    log: info.log,
    created: new Date(info.createdTimeMs).toISOString(),
    firstDlsn: info.firstDlsn?.toString() ?? null,
    lastDlsn: info.lastDlsn?.toString() ?? null,
    lastTxid: info.lastTxid.toString(),
    recordCount: info.recordCount.toString(),
    byteCount: info.byteCount.toString(),
    nextSequenceId: info.nextSequenceId.toString(),
    truncatedRecordCount: info.truncatedRecordCount.toString(),
    segments: info.segments.map((segment) => ({
      segment: segment.segment.toString(),
      firstDlsn: segment.firstDlsn?.toString() ?? null,
      lastDlsn: segment.lastDlsn?.toString() ?? null,
      recordCount: segment.recordCount.toString(),
      byteCount: segment.byteCount.toString(),
      firstTxid: segment.firstTxid.toString(),
      lastTxid: segment.lastTxid.toString(),
      created: new Date(segment.createdTimeMs).toISOString(),
      lastAppend: new Date(segment.lastAppendTimeMs).toISOString(),
      open: segment.open,
    })),
  };
}

async function printLog(context: Context, info: LogInfo): Promise<void> {
  if (context.json) {
    await write(`${JSON.stringify(logJson(info))}\n`);
    return;
  }
  const lines = [
    `log:          ${info.log}`,
    `created:      ${new Date(info.createdTimeMs).toISOString()}`,
    `records:      ${info.recordCount} (${info.byteCount} bytes; ${info.truncatedRecordCount} truncated; next sequence id ${info.nextSequenceId})`,
    `first:        ${dlsnText(info.firstDlsn)}`,
    `last:         ${dlsnText(info.lastDlsn)}`,
    `last txid:    ${info.lastTxid}`,
    `segments:     ${info.segments.length}`,
  ];
  const segments = table(
    ["  SEGMENT", "RECORDS", "BYTES", "FIRST", "LAST", "TXIDS", "OPEN"],
    info.segments.map((segment) => [
      `  ${segment.segment}`,
      segment.recordCount.toString(),
      segment.byteCount.toString(),
      dlsnText(segment.firstDlsn),
      dlsnText(segment.lastDlsn),
      `${segment.firstTxid}..${segment.lastTxid}`,
      segment.open ? "yes" : "",
    ]),
  );
  await write(`${lines.join("\n")}\n${info.segments.length > 0 ? segments : ""}`);
}

// ---- readers ----

async function readers(context: Context): Promise<number> {
  const [action = "ls"] = context.args;
  const { client, values } = context;
  const log = requireLog(context);
  const readerId = (): string => requireOption(values.reader, "--reader");
  switch (action) {
    case "ls":
    case "list": {
      const list = await client.listReaders(log);
      if (context.json) await write(list.map((info) => `${JSON.stringify(readerJson(info))}\n`).join(""));
      else await write(table(["READER", "FLOOR", "HOLES", "LAG", "LIVE", "EPOCH", "UPDATED"], list.map((info) => [
        info.readerId,
        dlsnText(info.floor),
        String(info.holes.length),
        info.lag.toString(),
        info.live ? "yes" : "no",
        info.epoch.toString(),
        info.updatedTimeMs > 0 ? new Date(info.updatedTimeMs).toISOString() : "-",
      ])));
      return 0;
    }
    case "position":
    case "get":
      await printReader(context, await client.getPosition(log, readerId()));
      return 0;
    case "seek":
    case "set": {
      const to = values.to ?? context.args[1];
      if (to === undefined) throw new UsageError("readers seek needs --to POS (earliest, latest, a DLSN, txid:N or time:ISO-DATE)");
      await printReader(context, await client.setPosition(log, readerId(), position(to, "--to"), { force: values.force ?? false }));
      return 0;
    }
    case "delete": {
      const id = readerId();
      await client.deleteReader(log, id, { force: values.force ?? false });
      await write(context.json ? `${JSON.stringify({ log, readerId: id, deleted: true })}\n` : `deleted reader ${id} of ${log}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown readers action "${action}"; expected ls, position, seek or delete`);
  }
}

function readerJson(info: ReaderPosition): Record<string, unknown> {
  return {
    log: info.log,
    readerId: info.readerId,
    floor: info.floor?.toString() ?? null,
    holes: info.holes.map((hole) => hole.toString()),
    lag: info.lag.toString(),
    live: info.live,
    epoch: info.epoch.toString(),
    updated: info.updatedTimeMs > 0 ? new Date(info.updatedTimeMs).toISOString() : null,
  };
}

async function printReader(context: Context, info: ReaderPosition): Promise<void> {
  if (context.json) {
    await write(`${JSON.stringify(readerJson(info))}\n`);
    return;
  }
  const holes = info.holes.length === 0 ? "none" : `${info.holes.length} (${info.holes.slice(0, 5).map(String).join(", ")}${info.holes.length > 5 ? ", …" : ""})`;
  await write(
    [
      `reader:   ${info.readerId} on ${info.log}`,
      `floor:    ${dlsnText(info.floor)} (delivery resumes after it)`,
      `holes:    ${holes}`,
      `lag:      ${info.lag}`,
      `live:     ${info.live ? "yes" : "no"} (epoch ${info.epoch})`,
      "",
    ].join("\n"),
  );
}

// ---- helpers ----

function requireOption(value: string | undefined, what: string): string {
  if (value === undefined || value === "") throw new UsageError(`${what} is required; see dlog --help`);
  return value;
}

function requireLog(context: Context): string {
  return requireOption(context.values.log, "--log");
}

function positiveInteger(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${flag}: "${text}" is not valid; expected a whole number >= 1`);
  }
  return Number(text);
}

function position(text: string, flag: string): StartAt {
  try {
    return parseStartAt(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

function dlsnArgument(text: string | undefined, flag: string): DLSN {
  if (text === undefined) throw new UsageError(`${flag} DLSN is required (seg/entry/slot, e.g. 1/42/0, or base64)`);
  try {
    return DLSN.parse(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

function dlsnText(dlsn: DLSN | undefined): string {
  return dlsn?.toString() ?? "-";
}

function readPem(path: string | undefined, flag: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd();
  return `${[header, ...rows].map(line).join("\n")}\n`;
}

/**
 * stdout going away (EPIPE: `dlog read | head`) is how a pipeline says "enough":
 * commands stop quietly instead of dying on an unhandled 'error' event.
 */
const output = new EventEmitter<{ broken: [] }>();
let broken = false;
process.stdout.on("error", () => {
  if (broken) return;
  broken = true;
  output.emit("broken");
});

/** Resolves once stdout takes more (or is gone). */
function drained(): Promise<void> {
  if (broken) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      process.stdout.off("drain", done);
      output.off("broken", done);
      resolve();
    };
    process.stdout.once("drain", done);
    output.once("broken", done);
  });
}

function write(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (text === "") resolve();
    else process.stdout.write(text, () => resolve());
  });
}

const CODE_NAMES = Status as unknown as Record<number, string>;

/** One line for a person, and the exit code. */
function describeFailure(error: unknown, address: string): { message: string; code: number } {
  const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ").trim();
  if (error instanceof UsageError) return { message: error.message, code: 2 };
  if (error instanceof ClientError) {
    const name = CODE_NAMES[error.code] ?? String(error.code);
    const details = oneLine(error.details);
    switch (error.code) {
      case Status.UNAVAILABLE: {
        // grpc-js: "No connection established. Last error: Error: connect ECONNREFUSED …. Resolution note: "
        const cause = /Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/.exec(details)?.[1] ?? details;
        return { message: `cannot reach dlogd at ${address}: ${cause} (${name})`, code: 3 };
      }
      case Status.DEADLINE_EXCEEDED:
        return { message: `dlogd at ${address} did not answer in time: ${details} (${name})`, code: 3 };
      case Status.UNAUTHENTICATED:
      case Status.PERMISSION_DENIED:
        return { message: `${details} (${name})`, code: 4 };
      default:
        return { message: `${details} (${name})`, code: 1 };
    }
  }
  if (error instanceof DlogError) return { message: oneLine(error.message), code: 2 };
  return { message: oneLine((error as Error)?.message ?? String(error)), code: 1 };
}

// grpc-js passes an IP address as the TLS server name, and Node warns about it (DEP0123)
// on stderr: not something a person running dlog can act on, and it breaks the one-line errors.
process.noDeprecation = true;

let addressInUse = "127.0.0.1:7070";
let exitCode: number;
try {
  exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (broken && (error as NodeJS.ErrnoException)?.code === "EPIPE") {
    exitCode = 0;
  } else {
    const { message, code } = describeFailure(error, addressInUse);
    process.stderr.write(`dlog: ${message}\n`);
    exitCode = code;
  }
}
// Exit once stdout is flushed (or gone); a pipeline that stopped reading is not an error.
if (!broken) await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
process.exit(exitCode);
