import type { Socket } from "node:net";
import { readFileSync } from "node:fs";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Logger } from "./logger.js";

/** How often refused connections are logged at most (with the count since the last line). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** The soft open-file limit this process has (Linux /proc; undefined where it cannot be read). */
export function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1];
    return line === undefined || line === "unlimited" ? undefined : Number(line);
  } catch {
    return undefined;
  }
}

/** The default --max-connections: half the open-file limit, leaving the rest to LevelDB and the process. */
export function defaultMaxConnections(fdLimit: number | undefined): number {
  return Math.max(16, Math.floor((fdLimit ?? 1024) / 2));
}

export interface ConnectionLimit {
  /** Client connections open now. */
  readonly open: number;
  /** Connections closed at once because the limit was reached, since start. */
  readonly refused: number;
  close(): void;
}

/**
 * Keeps at most `max` client connections on `port`. grpc-js has no such limit and nice-grpc keeps
 * its listener private, so the limit sits on Node's "net.server.socket" diagnostics channel, which
 * sees every accepted socket: one past the limit is closed at once, before it can send a call, so
 * no number of idle peers can take the file descriptors the store needs.
 */
export function limitConnections(port: number, max: number, logger: Logger): ConnectionLimit {
  let open = 0;
  let refused = 0;
  let unlogged = 0;
  let lastLog = 0;
  const onSocket = (message: unknown): void => {
    const socket = (message as { socket: Socket }).socket;
    if (socket.localPort !== port) return;
    if (open >= max) {
      socket.destroy();
      refused++;
      unlogged++;
      if (Date.now() - lastLog >= REFUSAL_LOG_INTERVAL_MS) {
        logger.warn({ maxConnections: max, refused: unlogged, peer: socket.remoteAddress }, "connections refused: --max-connections reached");
        lastLog = Date.now();
        unlogged = 0;
      }
      return;
    }
    open++;
    socket.once("close", () => open--);
  };
  subscribe("net.server.socket", onSocket);
  return {
    get open() {
      return open;
    },
    get refused() {
      return refused;
    },
    close: () => unsubscribe("net.server.socket", onSocket),
  };
}
