/** Accepted connections: Nagle's algorithm is off, so a small frame never waits for the client's delayed ACK. */
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { once } from "node:events";
import { type AddressInfo, type Socket, connect, createServer } from "node:net";
import { test } from "node:test";
import { limitConnections } from "../../src/server/connection-limit.js";
import { createLogger } from "../../src/server/logger.js";

test("every connection the server keeps has TCP_NODELAY set; one past the limit is closed without it", async () => {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  // Subscribed before the limit, so it sees each accepted socket first and records what the limit asks of it.
  const asked = new Map<Socket, boolean[]>();
  const spy = (message: unknown): void => {
    const socket = (message as { socket: Socket }).socket;
    if (socket.localPort !== port) return;
    const calls: boolean[] = [];
    asked.set(socket, calls);
    const setNoDelay = socket.setNoDelay.bind(socket);
    socket.setNoDelay = (noDelay = true) => {
      calls.push(noDelay);
      return setNoDelay(noDelay);
    };
  };
  subscribe("net.server.socket", spy);
  const limit = limitConnections(port, 2, createLogger("error", { write: () => undefined }));
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const accepted = once(server, "connection");
      clients.push(connect(port, "127.0.0.1"));
      await accepted;
    }
    assert.deepEqual([...asked.values()], [[true], [true], []]);
  } finally {
    limit.close();
    unsubscribe("net.server.socket", spy);
    for (const client of clients) client.destroy();
    server.close();
  }
});
