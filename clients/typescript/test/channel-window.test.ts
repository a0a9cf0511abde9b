import assert from "node:assert/strict";
import { once } from "node:events";
import { type Http2Session, type ServerHttp2Stream, createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { FLOW_CONTROL_WINDOW_BYTES, createDlogClient } from "../src/client.js";

/**
 * A plain HTTP/2 server stands in for dlogd: it sees the SETTINGS the client's channel sends and the
 * connection window it opens, and answers every call UNAVAILABLE.
 */
async function windowsGranted(channelOptions?: Record<string, number>): Promise<{ stream: number; connection: number }> {
  const server = createServer();
  const sessions: Http2Session[] = [];
  server.on("session", (session) => sessions.push(session));
  server.on("stream", (stream: ServerHttp2Stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14", "grpc-message": "stand-in" }, { endStream: true });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const client = createDlogClient({ address: `127.0.0.1:${(server.address() as AddressInfo).port}`, channelOptions });
  try {
    await assert.rejects(client.getLog("orders"));
    const session = sessions[0];
    assert.ok(session, "the client connected");
    // The connection window arrives as a WINDOW_UPDATE after the settings; a ping round trip orders it before us.
    await new Promise<void>((resolve, reject) => session.ping((error) => (error ? reject(error) : resolve())));
    return { stream: session.remoteSettings.initialWindowSize!, connection: session.state.remoteWindowSize! };
  } finally {
    await client.close();
    for (const session of sessions) session.destroy();
    server.close();
  }
}

test("the client grants the server a 1 MiB HTTP/2 window, per stream and for the connection", async () => {
  const granted = await windowsGranted();
  assert.equal(FLOW_CONTROL_WINDOW_BYTES, 1024 * 1024);
  assert.equal(granted.stream, FLOW_CONTROL_WINDOW_BYTES);
  assert.equal(granted.connection, FLOW_CONTROL_WINDOW_BYTES);
});

test("channelOptions set another window", async () => {
  const granted = await windowsGranted({ "grpc-node.flow_control_window": 256 * 1024 });
  assert.equal(granted.stream, 256 * 1024);
});
