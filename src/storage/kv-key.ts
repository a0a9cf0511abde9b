/** Reader ids and producer ids go into KV keys base64url-encoded: KV keys allow only [-/_=.a-zA-Z0-9]. */
export const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64url");
export const unb64 = (key: string): string => Buffer.from(key, "base64url").toString("utf8");
