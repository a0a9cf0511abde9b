/** What every command shares: the global options, the address they name, and one client built from them. */
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { createDlogClient, type DlogClient } from "../../clients/typescript/src/index.js";
import { parseListen } from "../server/config.js";
import { UsageError } from "./exit-codes.js";
import { duration } from "./options.js";

export const DEFAULT_PORT = 7070;

interface GlobalOptions {
  addr: string;
  token?: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  format: "text" | "json";
  timeout: number;
  quiet?: boolean;
}

export interface CliContext {
  readonly client: DlogClient;
  /** HOST:PORT as dialled, for messages. */
  readonly address: string;
  readonly json: boolean;
  /** No progress, no summaries on stderr: errors only. */
  readonly quiet: boolean;
}

export function addGlobalOptions(program: Command): Command {
  return program
    .addOption(new Option("--addr <host[:port]>", `dlogd address (port ${DEFAULT_PORT} when left out)`).env("DLOG_ADDR").default(`127.0.0.1:${DEFAULT_PORT}`))
    .addOption(new Option("--token <token>", "bearer token").env("DLOG_TOKEN"))
    .option("--tls", "use TLS (system roots unless --ca)")
    .option("--ca <file>", "CA certificate (PEM); implies --tls")
    .option("--cert <file>", "client certificate (PEM) for mutual TLS; implies --tls")
    .option("--key <file>", "client key (PEM) for mutual TLS")
    .addOption(new Option("--format <format>", "output format: json is one object per line").choices(["text", "json"]).default("text"))
    .addOption(
      new Option("--timeout <duration>", "deadline of each call that is not a stream (e.g. 500ms, 10s, 1m)").argParser(duration).default(10_000, "10s"),
    )
    .option("-q, --quiet", "no progress, notes or summaries on stderr: errors only");
}

/**
 * `host:port`, `host` (port 7070) or `[v6]:port`; grpc-js target URIs
 * (`dns:`, `unix:`, `ipv4:`, `ipv6:`) pass through untouched.
 */
export function dlogAddress(text: string): string {
  const value = text.trim();
  if (/^(dns|unix|unix-abstract|ipv4|ipv6):/.test(value)) return value;
  const withPort = /^(\[[^\]]+\]|[^:[\]]+)$/.test(value) ? `${value}:${DEFAULT_PORT}` : value;
  let port: number | undefined;
  try {
    port = parseListen(withPort, "--addr").port;
  } catch {
    port = undefined;
  }
  if (port === undefined || port < 1) {
    throw new UsageError(`--addr "${text}" is not HOST[:PORT] (e.g. 127.0.0.1:7070, dlog.example:7070, [::1]:7070; port ${DEFAULT_PORT} when left out)`);
  }
  return withPort;
}

function readPem(path: string | undefined, flag: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

let current: CliContext | undefined;
let dialled: string | undefined;

/** The context of the command being run; its client is made once and closed by `closeContext()`. */
export function contextOf(command: Command): CliContext {
  if (current) return current;
  const options = command.optsWithGlobals<GlobalOptions>();
  const address = dlogAddress(options.addr);
  dialled = address;
  if ((options.cert === undefined) !== (options.key === undefined)) throw new UsageError("--cert and --key go together (mutual TLS)");
  const tls = options.tls || options.ca !== undefined || options.cert !== undefined;
  const client = createDlogClient({
    address,
    token: options.token || undefined, // DLOG_TOKEN="" means none
    tls: tls ? { ca: readPem(options.ca, "--ca"), cert: readPem(options.cert, "--cert"), key: readPem(options.key, "--key") } : false,
    callTimeoutMs: options.timeout,
  });
  current = { client, address, json: options.format === "json", quiet: options.quiet === true };
  return current;
}

/** The address the command dialled (undefined before any command ran). */
export function addressInUse(): string | undefined {
  return dialled;
}

export function closeContext(): void {
  current?.client.close();
  current = undefined;
}
