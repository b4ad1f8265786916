import { once } from "node:events";
import { UsageError } from "./args.js";
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
  if (all && text !== undefined) throw new UsageError("use --limit or --all, not both");
  const limit = text === undefined ? 100 : /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!all && !(limit >= 1)) throw new UsageError(`--limit must be a positive integer (got ${JSON.stringify(text)})`);
  return { limit: all ? Infinity : limit, all, cursor: s("cursor") };
}

/** How a listing shows its rows: a header row and tab-separated cells, or each row as a JSON object. */
export interface Columns<T> {
  header: string[];
  cells(row: T): string[];
  json(row: T): unknown;
}

/** One human row: tab-separated (for `cut -f`), with tabs and newlines inside a cell made spaces. */
export const tsv = (cells: readonly string[]) => cells.map((c) => c.replace(/[\t\r\n]+/g, " ")).join("\t");

/**
 * Prints a keyset-paged listing as it is fetched, up to the limit or to the end. One page is in memory
 * at a time: a slow reader of the output pauses the fetching instead of letting lines pile up. When
 * rows remain, says so on stderr with the cursor that continues after the last row printed. With `json`,
 * the output is one document, {"items": [...], "next": cursor} (next only when rows remain), streamed too.
 */
export async function printPages<T>(fetch: (page: PageRequest) => Promise<Page<T>>, cols: Columns<T>, o: PagingOptions, json = false, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, "drain");
  };
  let cursor = o.cursor;
  let left = o.limit;
  let first = true;
  await write(json ? '{"items":[' : `${tsv(cols.header)}\n`);
  while (left > 0) {
    const page = await fetch({ cursor, limit: Math.min(MAX_PAGE_SIZE, left) });
    for (const row of page.items) {
      await write(json ? `${first ? "\n" : ",\n"}${JSON.stringify(cols.json(row))}` : `${tsv(cols.cells(row))}\n`);
      first = false;
    }
    left -= page.items.length;
    cursor = page.next;
    if (!cursor) break;
  }
  if (json) await write(`\n]${cursor ? `,"next":${JSON.stringify(cursor)}` : ""}}\n`);
  if (cursor) console.error(`more rows: continue with --cursor ${cursor} (or list everything with --all)`);
}

/** A whole listing already in memory: the same two forms. */
export function printRows<T>(rows: readonly T[], cols: Columns<T>, json: boolean): void {
  if (json) console.log(JSON.stringify({ items: rows.map((r) => cols.json(r)) }, null, 2));
  else for (const line of [cols.header, ...rows.map((r) => cols.cells(r))]) console.log(tsv(line));
}
