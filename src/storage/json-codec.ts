/**
 * Metadata is small and written once per batch per log: JSON with bigints as strings (`"12n"`)
 * keeps it inspectable in LevelDB and in a NATS KV bucket alike.
 */
export function encodeJson(value: object): Buffer {
  return Buffer.from(JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)));
}

export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), (_key, v: unknown) =>
    typeof v === "string" && /^-?\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v,
  ) as T;
}
