import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Socket } from "node:net";

/**
 * The TCP connections accepted on one port. grpc-js cannot end a connection whose peer has
 * stopped reading: Node's HTTP/2 session waits for its socket to flush before closing it, and
 * `forceShutdown` leaves such a socket open, so shutdown would wait for it forever. Shutdown
 * destroys what is left here once its time is up.
 */
export interface Connections {
  /** Starts counting connections of `port` (accepted ones are seen from creation on). */
  attach(port: number): void;
  /** Destroys every open connection of the port; returns how many there were. */
  destroyAll(): number;
  readonly open: number;
  /** Resolves once no connection of the port is open. */
  drained(): Promise<void>;
  /** Stops watching. */
  close(): void;
}

const CHANNEL = "net.server.socket";

/** Watches accepted sockets through Node's `net.server.socket` diagnostics channel. */
export function trackConnections(): Connections {
  const sockets = new Set<Socket>();
  const drainWaiters = new Set<() => void>();
  let port: number | undefined;
  const forget = (socket: Socket): void => {
    sockets.delete(socket);
    if (sockets.size > 0) return;
    for (const wake of drainWaiters) wake();
    drainWaiters.clear();
  };
  const onSocket = (message: unknown): void => {
    const socket = (message as { socket: Socket }).socket;
    // Several servers may share the process (tests, /metrics): only ours count.
    if (port !== undefined && socket.localPort !== port) return;
    sockets.add(socket);
    socket.once("close", () => forget(socket));
  };
  subscribe(CHANNEL, onSocket);
  return {
    attach(bound) {
      port = bound;
      for (const socket of sockets) if (socket.localPort !== bound) forget(socket);
    },
    destroyAll() {
      const count = sockets.size;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      return count;
    },
    get open() {
      return sockets.size;
    },
    drained() {
      return sockets.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => drainWaiters.add(resolve));
    },
    close() {
      unsubscribe(CHANNEL, onSocket);
      sockets.clear();
      for (const wake of drainWaiters) wake();
      drainWaiters.clear();
    },
  };
}

/** Waits for `work` until `deadline` (ms since the epoch): true when it settled in time; a rejection is reported, not thrown. */
export async function settlesBy(work: Promise<unknown>, deadline: number, onError: (error: unknown) => void): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([
      work.then(
        () => true,
        (error: unknown) => {
          onError(error);
          return true;
        },
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
