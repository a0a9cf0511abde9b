/** Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by area of the code. */
import { readFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Non-idle sampled time; shares below are of this. */
  busyMs: number;
  /** Self time in ms by "function (file:line)", biggest first. */
  functions: Array<{ name: string; ms: number; share: number }>;
  /** Self time by area: idle, GC, grpc-js, protobuf, LevelDB, dlog, node internals, … */
  areas: Array<{ name: string; ms: number; share: number }>;
}

function area(url: string, fn: string): string {
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "GC";
  if (fn === "(program)") return "(program: native, unattributed)";
  if (url.includes("@bufbuild/protobuf") || url.includes("/src/gen/")) return "protobuf encode/decode (@bufbuild/protobuf, ts-proto code)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  if (url.includes("/dist/src/")) {
    const path = url.slice(url.indexOf("/dist/src/") + 10);
    return `dlog src/${path.includes("/") ? `${path.split("/")[0]}/` : path}`;
  }
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  if (url === "") return fn === "" ? "(native)" : `native ${fn}`;
  return "other JS";
}

function shortUrl(url: string): string {
  const at = Math.max(url.indexOf("/dist/src/"), url.indexOf("/node_modules/"));
  return at >= 0 ? url.slice(at + 1) : url;
}

/** A span of CLOCK_MONOTONIC in µs: V8 profile timestamps and process.hrtime share this clock on Linux. */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** Runs `work` and returns the monotonic window it ran in, to cut another process's profile to it. */
export async function windowed<T>(work: () => Promise<T>): Promise<{ value: T; window: Window }> {
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const value = await work();
  return { value, window: { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) } };
}

/** Reads one .cpuprofile file; see {@link summarise}. */
export async function summariseProfileFile(path: string, top = 20, window?: Window): Promise<ProfileSummary> {
  return summarise(JSON.parse(await readFile(path, "utf8")) as Profile, top, window);
}

/**
 * Profiles this process (the benchmark client) while `work` runs, through the inspector.
 * @example const { result, summary } = await profileThisProcess(() => deliverAndAck(...))
 */
export async function profileThisProcess<T>(work: () => Promise<T>, top = 20): Promise<{ result: T; summary: ProfileSummary }> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 500 });
    await session.post("Profiler.start");
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await work() };
    } catch (error) {
      outcome = { error };
    }
    const { profile } = (await session.post("Profiler.stop")) as { profile: Profile };
    if ("error" in outcome) throw outcome.error;
    return { result: outcome.value, summary: summarise(profile, top) };
  } finally {
    session.disconnect();
  }
}

/** Attributes every sample's time (inside `window`, when given) to the function it was in, and to an area of the code. */
export function summarise(profile: Profile, top = 20, window?: Window): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the following interval to it.
    at += deltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const dt = deltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, dt));
  }
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || "(anonymous)"}${url ? ` (${shortUrl(url)}:${lineNumber + 1})` : ""}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    total += us;
    if (functionName === "(idle)") idle += us;
  }
  const busy = total - idle;
  const rank = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }));
  fns.delete("(idle)");
  areas.delete("idle");
  return { totalMs: total / 1000, busyMs: busy / 1000, functions: rank(fns, top), areas: rank(areas, 15) };
}
