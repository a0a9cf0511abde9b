/** The compliance suite on LevelDB (classic-level in a temp dir), bare and behind ResilientStorage as dlogd runs it. */
import { LevelStorage } from "../../src/storage/level-storage.js";
import { ResilientStorage } from "../../src/storage/resilient-storage.js";
import type { Storage } from "../../src/storage/storage.js";
import { tempDir } from "../helpers/dlogd.js";
import { reopenable, storageSuite, type StorageFactory } from "./suite.js";

function onDisk(open: (dir: string) => Promise<Storage>): StorageFactory {
  return {
    create() {
      const dir = tempDir("dlog-storage-suite-");
      return reopenable(() => open(dir.path), dir.cleanup);
    },
  };
}

storageSuite(
  "LevelDB",
  onDisk((dir) => LevelStorage.open(dir)),
);
storageSuite(
  "LevelDB behind ResilientStorage",
  onDisk((dir) => ResilientStorage.open({ open: () => LevelStorage.open(dir), dir })),
);
