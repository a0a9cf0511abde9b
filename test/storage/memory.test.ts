/** The compliance suite on the in-memory store `dlogd --in-memory` runs (memory-level): not durable, so no reopen case. */
import { LevelStorage } from "../../src/storage/level-storage.js";
import { storageSuite } from "./suite.js";

storageSuite("in-memory (memory-level)", {
  async create() {
    const storage = await LevelStorage.inMemory();
    return { storage, dispose: () => storage.close() };
  },
});
