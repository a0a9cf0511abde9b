/**
 * Races of durable reader positions between two gateways on one NATS JetStream store: a real
 * nats-server, two real NatsStorage connections on one prefix, each with its own LogStore,
 * ReaderSessions or PositionStore. The other gateway's writes are interleaved at exact points of
 * the one under test through `interleaved()`, a pass-through storage with hooks between its steps
 * (after its read of a reader, before its write of one) and a valve on its reader watch.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { isDlogError } from "../../src/errors.js";
import { LogStore } from "../../src/log/log-store.js";
import { decodePosition, encodePosition, type ReaderPosition } from "../../src/positions/position-codec.js";
import { PositionStore } from "../../src/positions/position-store.js";
import { type OpenRequest, ReaderSessions } from "../../src/sessions/reader-sessions.js";
import type { SessionFrame } from "../../src/sessions/session.js";
import { NatsStorage } from "../../src/storage/nats-storage.js";
import type { Storage } from "../../src/storage/storage.js";
import { bytes } from "../helpers/dlogd.js";
import { DEFAULTS } from "../helpers/log-store.js";
import { recordsOf } from "../helpers/memory-log.js";
import { type NatsServer, startNatsServer } from "../helpers/nats-server.js";

const TEST = { timeout: 30_000 };
/** Writes only when a test flushes: nothing lands between the steps a test interleaves. */
const MANUAL_FLUSH = { flushIntervalMs: 60_000, flushMax: 1_000_000 };

let server: NatsServer;
before(async () => {
  server = await startNatsServer();
});
after(() => server?.stop());

type WatchListener = Parameters<NonNullable<Storage["watchReaders"]>>[0];

/** A gateway's storage, passed through, with a hook after its next read of a reader and before its next write of readers, and a valve on its reader watch. */
interface Interleaved {
  storage: Storage;
  /** Runs once, after the next `getPosition` read and before its caller sees the result. */
  afterNextRead(hook: () => Promise<void>): void;
  /** Runs once, after the next `writePositions` is called and before it writes. */
  beforeNextWrite(hook: () => Promise<void>): void;
  /** While closed, what the reader watch tells waits; `open()` lets it through, in order. */
  valve: { close(): void; open(): void };
  /** Reader watch events let through so far. */
  readonly told: number;
}

function interleaved(inner: NatsStorage): Interleaved {
  let afterRead: (() => Promise<void>) | undefined;
  let beforeWrite: (() => Promise<void>) | undefined;
  let held: Array<() => void> | undefined;
  let told = 0;
  const storage = new Proxy(inner, {
    get(target, property) {
      if (property === "getPosition") {
        return async (logId: number, readerId: string) => {
          const stored = await target.getPosition(logId, readerId);
          const hook = afterRead;
          afterRead = undefined;
          await hook?.();
          return stored;
        };
      }
      if (property === "writePositions") {
        return async (...args: Parameters<Storage["writePositions"]>) => {
          const hook = beforeWrite;
          beforeWrite = undefined;
          await hook?.();
          return target.writePositions(...args);
        };
      }
      if (property === "watchReaders") {
        return (listener: WatchListener) =>
          target.watchReaders((...event) => {
            const tell = (): void => {
              told++;
              listener(...event);
            };
            if (held) held.push(tell);
            else tell();
          });
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    storage,
    afterNextRead: (hook) => (afterRead = hook),
    beforeNextWrite: (hook) => (beforeWrite = hook),
    valve: {
      close: () => (held ??= []),
      open: () => {
        const waiting = held ?? [];
        held = undefined;
        for (const tell of waiting) tell();
      },
    },
    get told() {
      return told;
    },
  };
}

/** Polls (bounded) until `check` holds: what one gateway writes reaches the other through its watch. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 5_000; !check(); await new Promise((resolve) => setTimeout(resolve, 5))) {
    assert.ok(Date.now() < deadline, `not within 5 s: ${what}`);
  }
}

/** Pulls frames until `match` returns something; the session must not end first. */
async function next<T>(frames: AsyncIterator<SessionFrame>, match: (frame: SessionFrame) => T | undefined): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const frame = await frames.next();
    if (frame.done) throw new Error("the session ended");
    const found = match(frame.value);
    if (found !== undefined) return found;
  }
  throw new Error("no matching frame in 100");
}

const opened = (frame: SessionFrame) => (frame.kind === "opened" ? frame.opened : undefined);
const records = (frame: SessionFrame) => (frame.kind === "records" ? recordsOf(frame) : undefined);

let prefixes = 0;

/** Two gateways on one fresh prefix, each a NatsStorage, a LogStore and ReaderSessions; the log "log" holds `count` records. */
async function twoGateways(count: number) {
  const prefix = `races${++prefixes}`;
  const open = () => NatsStorage.open({ servers: [server.hostPort], prefix, replicas: 1 });
  const gateway = async () => {
    const nats = await open();
    const logs = await LogStore.open(nats, DEFAULTS);
    const hooks = interleaved(nats);
    const sessions = new ReaderSessions({ logs, storage: hooks.storage, ...MANUAL_FLUSH, maxHoles: 100, heartbeatMs: 60_000, shutdownAckWaitMs: 0 });
    return { nats, logs, hooks, sessions };
  };
  const a = await gateway();
  const { dlsns } = await a.logs.append(
    "log",
    Array.from({ length: count }, (_, i) => ({ payload: bytes(`${i + 1}`) })),
  );
  // Opened after the append, b loads the log as a wrote it.
  const b = await gateway();
  const logId = a.logs.logId("log");
  const request = (extra: Partial<OpenRequest> = {}): OpenRequest => ({
    log: "log",
    readerId: "r",
    resumePolicy: "stored",
    flow: {},
    takeover: "fence",
    ackWaitMs: 0,
    ...extra,
  });
  /** The reader as the store holds it now (read through a's connection). */
  const stored = async (): Promise<ReaderPosition | undefined> => {
    const position = await a.nats.getPosition(logId, "r");
    return position ? decodePosition(position) : undefined;
  };
  const close = async () => {
    for (const g of [a, b]) {
      await g.sessions.close();
      await g.logs.close();
      await g.nats.close();
    }
  };
  return { a, b, dlsns, logId, request, stored, close };
}

/** Opens a session on `sessions` and takes its Opened and first Records frames. */
async function openAndRead(sessions: ReaderSessions, request: OpenRequest) {
  const session = await sessions.open(request);
  const frames = session.frames()[Symbol.asyncIterator]();
  const info = await next(frames, opened);
  const first = await next(frames, records);
  return { session, frames, info, first };
}

/**
 * An overtaken SetPosition, arranged: the reader's floor at record 5 written through b and known to
 * a; a's next read of it lets a takeover through b land before a's write, told to a `told`. Returns
 * the takeover's session once it has opened.
 */
async function overtakeNextSetPosition(
  { a, b, dlsns, logId, request }: Awaited<ReturnType<typeof twoGateways>>,
  told: "by the watch" | "by the failed CAS",
): Promise<() => Awaited<ReturnType<typeof openAndRead>> | undefined> {
  const first = await openAndRead(b.sessions, request());
  first.session.handleAck([], dlsns[4]);
  await b.sessions.positions.flush();
  first.session.handleGone();
  await b.sessions.positions.flush();
  await a.sessions.positions.get(logId, "r"); // a knows the reader (its watch tells b's writes of it)

  let taking: Awaited<ReturnType<typeof openAndRead>> | undefined;
  a.hooks.afterNextRead(async () => {
    const toldBefore = a.hooks.told;
    if (told === "by the failed CAS") a.hooks.valve.close();
    taking = await openAndRead(b.sessions, request());
    if (told === "by the watch") await until(() => a.hooks.told > toldBefore, "a's watch to tell the takeover");
  });
  return () => taking;
}

/** A session's position with its floor at entry `floor` and nothing above it acked. */
const position = (floor: bigint, epoch: bigint): ReaderPosition => ({
  floor: new DLSN(1n, floor, 0n),
  floorSequenceId: floor,
  holes: [],
  epoch,
  updatedTimeMs: 1,
  deliveredHigh: undefined,
  deliveredThrough: floor,
});

const equalDlsn = (actual: DLSN | undefined, expected: DLSN, what: string): void => assert.equal(actual?.toString(), expected.toString(), what);

describe("durable reader positions across two NATS gateways: races", () => {
  test("a takeover whose epoch write loses its CAS to the old session's acks resumes after them: the durable floor never moves back", TEST, async () => {
    const { a, b, dlsns, request, stored, close } = await twoGateways(20);
    try {
      const old = await openAndRead(a.sessions, request());
      old.session.handleAck([], dlsns[4]);
      await a.sessions.positions.flush();
      // The takeover through b reads floor 5; before it writes its epoch, the old session's ack of 10 lands.
      b.hooks.afterNextRead(async () => {
        old.session.handleAck([], dlsns[9]);
        await a.sessions.positions.flush();
        equalDlsn((await stored())?.floor, dlsns[9]!, "the old session's ack of 10 is durable before the takeover writes");
      });
      const taking = await openAndRead(b.sessions, request());

      const now = await stored();
      assert.equal(now?.epoch, 2n, "the takeover's epoch is stored");
      equalDlsn(now?.floor, dlsns[9]!, "the durable floor stays at 10, the old session's last durable ack");
      equalDlsn(taking.info.resumeAfter, dlsns[9]!, "the new session resumes after it");
      assert.equal(Buffer.from(taking.first[0]!.payload).toString(), "11");
      taking.session.handleGone();
    } finally {
      await close();
    }
  });

  test(
    "two gateways opening a new reader at once: the open whose write comes second reads it again and takes it over, never a second epoch 1",
    TEST,
    async () => {
      const { a, b, request, stored, close } = await twoGateways(20);
      try {
        let other: Awaited<ReturnType<typeof openAndRead>> | undefined;
        // Both read the reader absent; b's session is opened and written between a's read and a's write.
        a.hooks.afterNextRead(async () => {
          other = await openAndRead(b.sessions, request());
        });
        const mine = await openAndRead(a.sessions, request());
        assert.equal(other?.info.epoch, 1n);
        assert.equal(mine.info.epoch, 2n, "the second open took the reader over");
        assert.equal((await stored())?.epoch, 2n);
        await until(() => other!.session.isEnded, "b's session to be fenced by a's takeover");
        mine.session.handleGone();
      } finally {
        await close();
      }
    },
  );

  test("an open with TAKEOVER_REJECT overtaken by a session through another gateway is refused (ALREADY_EXISTS) and writes nothing", TEST, async () => {
    const { a, b, request, stored, close } = await twoGateways(20);
    try {
      let other: Awaited<ReturnType<typeof openAndRead>> | undefined;
      a.hooks.afterNextRead(async () => {
        other = await openAndRead(b.sessions, request());
      });
      await assert.rejects(
        a.sessions.open(request({ takeover: "reject" })),
        (error) => isDlogError(error, "ALREADY_EXISTS") && error.reason === "READER_LIVE" && error.metadata.epoch === "1",
      );
      assert.equal((await stored())?.epoch, 1n, "the live session's epoch stands");
      assert.equal(other?.session.isEnded, false, "the live session goes on");
      other?.session.handleGone();
    } finally {
      await close();
    }
  });

  // How the takeover reaches the SetPosition's gateway before its write: told by the watch first
  // (its write is then known to be fenced), or only by the write's failed CAS (the watch is held).
  for (const told of ["by the watch", "by the failed CAS"] as const) {
    test(`SetPosition overtaken by a takeover through another gateway (told ${told}) is refused without force and stores nothing`, TEST, async () => {
      const gateways = await twoGateways(20);
      const { a, dlsns, stored, close } = gateways;
      try {
        const takeover = await overtakeNextSetPosition(gateways, told);
        await assert.rejects(
          a.sessions.setPosition("log", "r", { kind: "dlsn", dlsn: dlsns[14]! }, false),
          (error) => isDlogError(error, "FAILED_PRECONDITION") && error.reason === "READER_LIVE",
        );
        a.hooks.valve.open();
        const now = await stored();
        assert.equal(now?.epoch, 2n);
        equalDlsn(now?.floor, dlsns[4]!, "the takeover's position is what stays stored");
        takeover()?.session.handleGone();
      } finally {
        await close();
      }
    });

    test(`SetPosition with force overtaken by a takeover through another gateway (told ${told}) is written over it, never dropped`, TEST, async () => {
      const gateways = await twoGateways(20);
      const { a, b, dlsns, stored, close } = gateways;
      try {
        const takeover = await overtakeNextSetPosition(gateways, told);
        const info = await a.sessions.setPosition("log", "r", { kind: "dlsn", dlsn: dlsns[14]! }, true);
        a.hooks.valve.open();

        const now = await stored();
        equalDlsn(now?.floor, dlsns[13]!, "stored: just before record 15, as SetPosition answered");
        equalDlsn(info.floor, dlsns[13]!, "answered");
        assert.equal(now?.epoch, 2n, "the takeover's epoch, which the forced SetPosition ends at its next write");
        // The session it overtook is fenced at its next write: nothing it acks lands over the new position.
        takeover()!.session.handleAck([], takeover()!.first.at(-1)!.dlsn);
        await b.sessions.positions.flush();
        assert.ok(takeover()!.session.isEnded, "the overtaken session is fenced by its next write");
        equalDlsn((await stored())?.floor, dlsns[13]!, "its ack did not land");
      } finally {
        await close();
      }
    });
  }

  test(
    "a session's write in flight when a DeleteReader and a new reader of its id land through another gateway is not written again over the new reader",
    TEST,
    async () => {
      const prefix = `races${++prefixes}`;
      const open = () => NatsStorage.open({ servers: [server.hostPort], prefix, replicas: 1 });
      const a = await open();
      const b = await open();
      const positions = new PositionStore({ storage: a, ...MANUAL_FLUSH });
      const fences: string[] = [];
      positions.onFenced((_logId, _readerId, _upTo, why) => fences.push(why === "deleted" ? "deleted" : "fenced"));
      // The KV client a writes through: b's writes land while a's write is on its way.
      const kv = (a as unknown as { positions: { bucket: { kv: { update: (...args: unknown[]) => Promise<number> } } } }).positions.bucket.kv;
      const update = kv.update.bind(kv);
      let during: (() => Promise<void>) | undefined;
      kv.update = async (...args) => {
        const hook = during;
        during = undefined;
        await hook?.();
        return update(...args);
      };
      try {
        positions.changed(1, "r", () => position(5n, 2n)); // a session of epoch 2 here
        await positions.flush();
        positions.changed(1, "r", () => position(6n, 2n));
        await positions.flush();
        during = async () => {
          await b.getPosition(1, "r");
          await b.writePositions([{ logId: 1, readerId: "r", position: null }], true);
          await b.writePositions([{ logId: 1, readerId: "r", position: encodePosition(position(1n, 1n)) }], true);
          // Bounded: the watch tells these within milliseconds, unless it takes them for a's own write.
          for (const deadline = Date.now() + 1_000; !fences.includes("deleted") && Date.now() < deadline; )
            await new Promise((resolve) => setTimeout(resolve, 5));
        };
        positions.changed(1, "r", () => position(7n, 2n));
        await positions.flush();

        const now = await b.getPosition(1, "r");
        assert.deepEqual(now && decodePosition(now), position(1n, 1n), "the new reader's position stands");
        assert.ok(fences.includes("deleted"), "the delete was told");
      } finally {
        await positions.close();
        await a.close();
        await b.close();
      }
    },
  );

  test("a session's write whose CAS lost to a DeleteReader and a new reader of its id elsewhere is not written again over the new reader", TEST, async () => {
    const prefix = `races${++prefixes}`;
    const open = () => NatsStorage.open({ servers: [server.hostPort], prefix, replicas: 1 });
    const a = await open();
    const b = await open();
    const hooks = interleaved(a);
    const positions = new PositionStore({ storage: hooks.storage, ...MANUAL_FLUSH });
    const fences: string[] = [];
    positions.onFenced((_logId, _readerId, _upTo, why) => fences.push(why === "deleted" ? "deleted" : "fenced"));
    try {
      positions.changed(1, "r", () => position(5n, 2n)); // a session of epoch 2 here
      await positions.flush();
      // Its next write has passed the fence check; before it is written, b deletes the reader and a
      // new reader of that id starts over at epoch 1; a's watch tells the delete before a's CAS fails.
      hooks.beforeNextWrite(async () => {
        await b.writePositions([{ logId: 1, readerId: "r", position: null }], true);
        await b.writePositions([{ logId: 1, readerId: "r", position: encodePosition(position(1n, 1n)) }], true);
        await until(() => fences.includes("deleted"), "a's watch to tell the delete");
      });
      positions.changed(1, "r", () => position(7n, 2n));
      await positions.flush();

      const now = await b.getPosition(1, "r");
      assert.deepEqual(now && decodePosition(now), position(1n, 1n), "the new reader's position stands");
    } finally {
      await positions.close();
      await a.close();
      await b.close();
    }
  });
});
