import { DlogError } from "../errors.js";
import type { ReaderSessions } from "../sessions/reader-sessions.js";
import type { ReaderServiceImplementation } from "../gen/dlog/v1/reader.js";
import { fromWirePosition } from "./convert.js";
import { pageOf } from "./paging.js";
import type { ReaderQuota } from "./reader-quota.js";
import { toWireReaderInfo } from "./reader-wire.js";

export interface ReaderServiceDeps {
  sessions: ReaderSessions;
  /** The bound on readers per log; none when absent. */
  quota?: ReaderQuota;
}

/** dlog.v1.ReaderService's reader admin over the session core; the Session stream is `createSessionHandler`'s. */
export function createReaderService({ sessions, quota }: ReaderServiceDeps): Omit<ReaderServiceImplementation, "session"> {
  return {
    async getPosition(request) {
      return toWireReaderInfo(await sessions.getPosition(request.log, request.readerId));
    },

    async setPosition(request) {
      const start = fromWirePosition(request.position, "position");
      if (!start)
        throw new DlogError("INVALID_ARGUMENT", "position is required (boundary, dlsn, dlsn_bytes, txid or time_ms)", { metadata: { field: "position" } });
      await quota?.admit(request.log, request.readerId);
      return toWireReaderInfo(await sessions.setPosition(request.log, request.readerId, start, request.force));
    },

    async listReaders(request) {
      const readers = (await sessions.listReaders(request.log)).sort((a, b) => (a.readerId < b.readerId ? -1 : a.readerId > b.readerId ? 1 : 0));
      const page = pageOf(readers, (reader) => reader.readerId, request);
      return { readers: page.items.map(toWireReaderInfo), nextPageToken: page.nextPageToken };
    },

    async deleteReader(request) {
      await sessions.deleteReader(request.log, request.readerId, request.force);
      quota?.forget(request.log);
      return {};
    },
  };
}
