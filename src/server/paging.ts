import { DlogError } from "../errors.js";
import { NAME_PATTERN } from "../names.js";

export const DEFAULT_PAGE_SIZE = 1000;
export const MAX_PAGE_SIZE = 10_000;

export interface PageRequest {
  pageSize: number;
  pageToken: string;
}

/**
 * One page of a list sorted by name. The token is opaque to clients: the base64 of the
 * last name on the page, so the next page starts strictly after it even when names
 * were added or removed in between.
 */
export function pageOf<T>(sorted: readonly T[], nameOf: (item: T) => string, request: PageRequest): { items: T[]; nextPageToken: string } {
  const size = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_PAGE_SIZE) {
    throw new DlogError("INVALID_ARGUMENT", `page_size must be between 1 and ${MAX_PAGE_SIZE} (0: ${DEFAULT_PAGE_SIZE}), got ${request.pageSize}`, {
      reason: "INVALID_REQUEST",
    });
  }
  let start = 0;
  if (request.pageToken !== "") {
    const after = Buffer.from(request.pageToken, "base64").toString("utf8");
    if (!NAME_PATTERN.test(after) || Buffer.from(after, "utf8").toString("base64") !== request.pageToken) {
      throw new DlogError("INVALID_ARGUMENT", "page_token is not one this server handed out; pass next_page_token unchanged, or empty for the first page", {
        reason: "INVALID_REQUEST",
      });
    }
    start = firstAfter(sorted, nameOf, after);
  }
  const items = sorted.slice(start, start + size);
  const last = items.at(-1);
  const more = start + size < sorted.length;
  return { items, nextPageToken: more && last !== undefined ? Buffer.from(nameOf(last), "utf8").toString("base64") : "" };
}

/** Index of the first item whose name sorts after `name` (binary search). */
function firstAfter<T>(sorted: readonly T[], nameOf: (item: T) => string, name: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (nameOf(sorted[mid]!) <= name) low = mid + 1;
    else high = mid;
  }
  return low;
}
