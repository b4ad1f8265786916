import { once } from "node:events";
import { GatewayError } from "../errors.js";
import { MAX_PAGE_SIZE, type Page, type PageRequest } from "../store/types.js";

export interface PagingOptions {
  /** Rows to print at most (any size: fetched in pages); absent with `all`. */
  limit: number;
  all: boolean;
  cursor?: string;
}

/** `--limit N` (default 100), `--all`, `--cursor C` of a listing command. */
export function pagingOptions(s: (k: string) => string | undefined, all: boolean): PagingOptions {
  const text = s("limit");
  if (all && text !== undefined) throw new GatewayError("RA_ERR_MALFORMED", "use --limit or --all, not both");
  const limit = text === undefined ? 100 : /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!all && !(limit >= 1)) throw new GatewayError("RA_ERR_MALFORMED", "--limit must be a positive integer");
  return { limit: all ? Infinity : limit, all, cursor: s("cursor") };
}

/**
 * Prints a keyset-paged listing as it is fetched, up to the limit or to the end. One page is in memory
 * at a time: a slow reader of the output pauses the fetching instead of letting lines pile up. When
 * rows remain, says so on stderr with the cursor that continues after the last row printed.
 */
export async function printPages<T>(fetch: (page: PageRequest) => Promise<Page<T>>, line: (row: T) => string, o: PagingOptions, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  let cursor = o.cursor;
  let left = o.limit;
  while (left > 0) {
    const page = await fetch({ cursor, limit: Math.min(MAX_PAGE_SIZE, left) });
    for (const row of page.items) {
      if (!out.write(`${line(row)}\n`)) await once(out, "drain");
    }
    left -= page.items.length;
    cursor = page.next;
    if (!cursor) return;
  }
  console.error(`more rows: continue with --cursor ${cursor} (or list everything with --all)`);
}
