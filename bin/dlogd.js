#!/usr/bin/env -S node --initial-old-space-size=64
// The flag: without it V8 holds the old generation near the size of its live objects (~17 MB) and
// runs a mark-compact every few MB while sessions stream: 2-4x as many GC pauses, and 8 readers on
// one log deliver 0.5-0.8x as fast. `node bin/dlogd.js` starts without it (tests do; it changes no
// behaviour); the bench reads the flags from this line (bench/dlogd-process.ts).
import "../dist/src/cli/dlogd.js";
