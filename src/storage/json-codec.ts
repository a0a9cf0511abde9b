/**
 * Metadata is small and written once per batch per log: JSON with bigints as strings (`"12n"`)
 * keeps it inspectable in LevelDB and in a NATS KV bucket alike.
 */
export function encodeJson(value: object): Buffer {
  return Buffer.from(flatJson(value) ?? JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)));
}

/** Keys as JSON (quoted, escaped, with the colon), made once: metadata has a few dozen. */
const KEYS = new Map<string, string>();
const MAX_KEYS = 256;

/**
 * `JSON.stringify` of an object whose values are all numbers, bigints (as `"12n"`), strings,
 * booleans or undefined, byte for byte; undefined for any other object, which the replacer form
 * takes. A replacer is a call from the C++ stringifier into JavaScript for every key: a commit
 * writes a segment and a log this way, and that was 8 % of a single-record append's instructions.
 */
function flatJson(value: object): string | undefined {
  if (Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  let out = "";
  for (const key in value) {
    const v: unknown = (value as Record<string, unknown>)[key];
    let text: string;
    switch (typeof v) {
      case "bigint":
        text = `"${v}n"`;
        break;
      case "number":
        text = Number.isFinite(v) ? `${v}` : "null";
        break;
      case "string":
        text = JSON.stringify(v);
        break;
      case "boolean":
        text = v ? "true" : "false";
        break;
      case "undefined":
        continue;
      default:
        return undefined;
    }
    let quoted = KEYS.get(key);
    if (quoted === undefined) {
      quoted = `${JSON.stringify(key)}:`;
      if (KEYS.size < MAX_KEYS) KEYS.set(key, quoted);
    }
    out += (out === "" ? "{" : ",") + quoted + text;
  }
  return out === "" ? "{}" : `${out}}`;
}

export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), (_key, v: unknown) =>
    typeof v === "string" && /^-?\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v,
  ) as T;
}
