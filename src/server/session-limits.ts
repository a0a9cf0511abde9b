import { DlogError } from "../errors.js";

export interface SessionLimitSettings {
  /** Live sessions on the whole server (--max-sessions). */
  maxSessions: number;
  /** Live sessions on one connection (--max-sessions-per-connection). */
  maxSessionsPerConnection: number;
  /** Live sessions of one bearer token (--max-sessions-per-token). */
  maxSessionsPerToken: number;
}

/**
 * Counts live sessions in total, per connection and per token, and refuses one past a
 * limit with RESOURCE_EXHAUSTED (reason LIMIT_EXCEEDED, metadata limit/max). The maps
 * hold only keys with live sessions, so they stay as small as what is live.
 */
export class SessionLimits {
  readonly #settings: SessionLimitSettings;
  #total = 0;
  readonly #perConnection = new Map<string, number>();
  readonly #perToken = new Map<string, number>();

  constructor(settings: SessionLimitSettings) {
    this.#settings = settings;
  }

  get live(): number {
    return this.#total;
  }

  /** Counts a session in, or throws naming the limit it would pass; the returned function counts it out (once). */
  admit(connection: string, token: string | undefined): () => void {
    const { maxSessions, maxSessionsPerConnection, maxSessionsPerToken } = this.#settings;
    if (this.#total >= maxSessions) throw refusal("max_sessions", maxSessions, "live sessions on this server", "--max-sessions");
    if ((this.#perConnection.get(connection) ?? 0) >= maxSessionsPerConnection) {
      throw refusal("max_sessions_per_connection", maxSessionsPerConnection, "live sessions on this connection", "--max-sessions-per-connection");
    }
    if (token !== undefined && (this.#perToken.get(token) ?? 0) >= maxSessionsPerToken) {
      throw refusal("max_sessions_per_token", maxSessionsPerToken, `live sessions of token "${token}"`, "--max-sessions-per-token");
    }
    this.#total++;
    bump(this.#perConnection, connection, 1);
    if (token !== undefined) bump(this.#perToken, token, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      bump(this.#perConnection, connection, -1);
      if (token !== undefined) bump(this.#perToken, token, -1);
    };
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}

function refusal(limit: string, max: number, what: string, flag: string): DlogError {
  return new DlogError("RESOURCE_EXHAUSTED", `${max} ${what} already, the limit (${flag}); end one or open it elsewhere`, {
    reason: "LIMIT_EXCEEDED",
    metadata: { limit, max: String(max) },
  });
}
