import { createHash, timingSafeEqual } from "node:crypto";
import { DlogError } from "../errors.js";

/**
 * Rights a token holds on log-name patterns. `seek` is reader control: re-positioning a
 * reader (session override or client checkpoint, SetPosition, DeleteReader) and taking
 * over another live session of it. `admin` includes `seek`.
 */
export const RIGHTS = ["append", "read", "seek", "admin"] as const;
export type Right = (typeof RIGHTS)[number];

export interface TokenRule {
  name: string;
  /** sha256 of the token: compared in constant time and at a fixed length. */
  hash: Buffer;
  /** Per right, log-name patterns (`*` matches any run of characters). */
  allow: Record<Right, RegExp[]>;
  /** Reader ids the token may use (default every one). */
  readers: RegExp[];
  /** `readers` was given in the file: then it also lets the token take its readers over. */
  readersListed: boolean;
}

export const MIN_TOKEN_LENGTH = 16;
const PATTERN = /^[A-Za-z0-9._*-]{1,200}$/;
const ENTRY_FIELDS = new Set(["name", "token", "allow", "readers"]);
const EXAMPLE = `{"tokens": [{"name": "etl", "token": "<at least ${MIN_TOKEN_LENGTH} characters>", "allow": {"read": ["orders-*"]}, "readers": ["etl-*"]}]}`;

export function globToRegExp(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, "\\$&"))
      .join(".*")}$`,
  );
}

function hashOf(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/**
 * The server's bearer tokens, replaceable at run time (SIGHUP reloads the file).
 *
 * @example
 * const tokens = new TokenSet(TokenSet.parse(readFileSync(path, "utf8"), `--auth-tokens ${path}`));
 * tokens.find(presented)?.name;
 */
export class TokenSet {
  #rules: TokenRule[];
  #byName: Map<string, TokenRule>;

  constructor(rules: TokenRule[]) {
    this.#rules = rules;
    this.#byName = new Map(rules.map((rule) => [rule.name, rule]));
  }

  get size(): number {
    return this.#rules.length;
  }

  replace(rules: TokenRule[]): void {
    this.#rules = rules;
    this.#byName = new Map(rules.map((rule) => [rule.name, rule]));
  }

  /** The rule of a presented token. Every rule is compared, each on 32-byte hashes: timing reveals neither a prefix nor a length. */
  find(presented: string): TokenRule | undefined {
    const candidate = hashOf(presented);
    let found: TokenRule | undefined;
    for (const rule of this.#rules) {
      if (timingSafeEqual(rule.hash, candidate)) found = rule;
    }
    return found;
  }

  named(name: string): TokenRule | undefined {
    return this.#byName.get(name);
  }

  /**
   * Parses a tokens file. Every problem is one line naming the entry and the field
   * (`source: tokens[2].token ...`); no message ever contains a token or the file's text.
   */
  static parse(text: string, source: string): TokenRule[] {
    const fail = (what: string): never => {
      throw new DlogError("INVALID_ARGUMENT", `${source}: ${what}`);
    };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      // V8's message quotes the text around the error, which may be a token: give only where it is.
      const position = errorPosition((error as Error).message, text);
      const where = position === undefined ? "" : ` at line ${lineOf(text, position)}`;
      fail(`is not valid JSON${where}; expected ${EXAMPLE}`);
    }
    const tokens = (parsed as { tokens?: unknown } | null)?.tokens;
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed) || !Array.isArray(tokens) || tokens.length === 0) {
      fail(`expected ${EXAMPLE}`);
    }
    const names = new Map<string, number>();
    const hashes: Buffer[] = [];
    return (tokens as unknown[]).map((entry, i): TokenRule => {
      const at = `tokens[${i}]`;
      if (entry === null || typeof entry !== "object" || Array.isArray(entry)) fail(`${at} must be an object {"name", "token", "allow", "readers"}`);
      const fields = entry as Record<string, unknown>;
      for (const key of Object.keys(fields)) {
        if (!ENTRY_FIELDS.has(key)) fail(`${at} has an unknown field "${key}"; allowed: name, token, allow, readers`);
      }
      const { name, token, allow, readers } = fields;
      if (typeof name !== "string" || !/^[A-Za-z0-9._-]{1,100}$/.test(name)) fail(`${at}.name must be a name of 1-100 letters, digits, ".", "_" or "-"`);
      const named = name as string;
      if (names.has(named)) fail(`${at}.name "${named}" is also the name of tokens[${names.get(named)}]; names must be unique`);
      names.set(named, i);
      if (typeof token !== "string") fail(`${at}.token ("${named}") must be a string`);
      const secret = token as string;
      if (secret.trim() !== secret) fail(`${at}.token ("${named}") has spaces at its start or end, so no client could send it; remove them`);
      if (secret.length < MIN_TOKEN_LENGTH) fail(`${at}.token ("${named}") is too short: tokens need at least ${MIN_TOKEN_LENGTH} characters`);
      if (!/^[\x21-\x7e]+$/.test(secret)) fail(`${at}.token ("${named}") may contain only printable ASCII without spaces (it travels in a header)`);
      const hash = hashOf(secret);
      const same = hashes.findIndex((other) => timingSafeEqual(other, hash));
      if (same >= 0) fail(`${at}.token ("${named}") is the same as the token of tokens[${same}]; every token must be different`);
      hashes.push(hash);
      if (allow === null || typeof allow !== "object" || Array.isArray(allow)) fail(`${at}.allow must be an object of rights, e.g. {"read": ["*"]}`);
      const rights = { append: [], read: [], seek: [], admin: [] } as Record<Right, RegExp[]>;
      for (const [right, patterns] of Object.entries(allow as Record<string, unknown>)) {
        if (!(RIGHTS as readonly string[]).includes(right)) fail(`${at}.allow has an unknown right "${right}"; rights are ${RIGHTS.join(", ")}`);
        rights[right as Right] = patternsOf(patterns, `${at}.allow.${right}`, fail);
      }
      const readerPatterns = readers === undefined ? [/^.*$/] : patternsOf(readers, `${at}.readers`, fail);
      return { name: named, hash, allow: rights, readers: readerPatterns, readersListed: readers !== undefined };
    });
  }
}

function patternsOf(value: unknown, at: string, fail: (what: string) => never): RegExp[] {
  if (!Array.isArray(value)) fail(`${at} must be a list of name patterns, e.g. ["orders-*"]`);
  return (value as unknown[]).map((pattern, j) => {
    if (typeof pattern !== "string" || !PATTERN.test(pattern)) {
      fail(`${at}[${j}] must be a name pattern: letters, digits, ".", "_", "-" and "*" (any run of characters)`);
    }
    return globToRegExp(pattern as string);
  });
}

/** Where JSON.parse failed: its "position N", or where the text it quotes is found. */
function errorPosition(message: string, text: string): number | undefined {
  const position = /position (\d+)/.exec(message)?.[1];
  if (position !== undefined) return Number(position);
  const quoted = /, (?:\.\.\.)?"(.*?)"?(?:\.\.\.)? is not valid JSON/.exec(message)?.[1];
  const at = quoted === undefined || quoted === "" ? -1 : text.indexOf(quoted);
  return at < 0 ? undefined : at;
}

function lineOf(text: string, position: number): number {
  let line = 1;
  for (let i = 0; i < position && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
