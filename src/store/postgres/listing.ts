import { GatewayError } from "../../errors.js";
import { MAX_PAGE_SIZE, type AuditQuery, type CertificateQuery, type RequestStatus } from "../types.js";
import { q, type Queryable, type Row } from "./db.js";

/**
 * Keyset paging for the inventory listings on PostgreSQL: what sqlite/listing.ts does with the rowid, done with
 * the row_id identity column (assigned on insert, increasing, never updated or reused). A walk sees every row
 * that existed when it began exactly once. The cursor format is SQLite's (kind, row id, key); a cursor whose
 * row id holds another key, or no row that retention archived, is refused rather than skipping or repeating. A
 * cursor row that retention moved to the archive keeps its place: row ids are never reused, so the walk goes on.
 */

const MAX_ROW_ID = "9223372036854775807";

type Kind = "c" | "r";

/** SQL text with $n placeholders; `limit` is the next placeholder's number (bound by the caller). */
export interface PageSql {
  sql: string;
  values: unknown[];
}

/** Collects values and hands out their placeholders. */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

export function encodeCursor(kind: Kind, rowId: number, key: string): string {
  return Buffer.from(`${kind}:${rowId}:${key}`, "utf8").toString("base64url");
}

function badCursor(): GatewayError {
  return new GatewayError("RA_ERR_MALFORMED", "the cursor is not valid for this listing; start again without one");
}

/** The row id a cursor continues after, checked against the row it names (one primary-key lookup, two if archived). */
export async function decodeCursor(c: Queryable, kind: Kind, cursor: string): Promise<string> {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw badCursor();
  const m = /^([cr]):(\d{1,19}):(.{1,128})$/s.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m || m[1] !== kind || BigInt(m[2]) > BigInt(MAX_ROW_ID)) throw badCursor();
  const rows = kind === "c"
    ? await q<{ k: string }>(c, "core_cursor_cert", "SELECT serial AS k FROM certificates WHERE row_id = $1", [m[2]])
    : await q<{ k: string }>(c, "core_cursor_request", "SELECT id AS k FROM requests WHERE row_id = $1", [m[2]]);
  if (rows[0]?.k === m[3]) return m[2];
  if (!rows[0] && kind === "c" && (await q(c, "core_cursor_archived", "SELECT 1 FROM certificates_archive WHERE serial = $1", [m[3]])).length) return m[2];
  throw badCursor();
}

/**
 * The certificate page query, newest first. The same filters as SQLite's certificatePageSql; the profile, owner
 * and requester indexes end in row_id, so an equality on them is a range walk in row_id order, never a sort.
 */
export function certificatePageSql(f: CertificateQuery, now: string, before?: string): PageSql {
  const p = new Params();
  const where: string[] = [`row_id < ${p.add(before ?? MAX_ROW_ID)}`];
  switch (f.status) {
    case "valid": where.push(`stage = 'issued' AND revoked_at IS NULL AND not_after > ${p.add(now)}`); break;
    case "revoked": where.push("revoked_at IS NOT NULL"); break;
    case "expired": where.push(`stage = 'issued' AND not_after <= ${p.add(now)}`); break;
    case "intent": where.push("stage = 'intent'"); break;
    case "failed": where.push("stage = 'failed'"); break;
  }
  if (f.profile) where.push(`profile = ${p.add(f.profile)}`);
  if (f.protocol) where.push(`protocol = ${p.add(f.protocol)}`);
  if (f.caName) where.push(`ca_name = ${p.add(f.caName)}`);
  // strpos on lower(): SQLite's instr(lower(...)) (ASCII case folding under the C collation, as SQLite's lower()).
  if (f.name) {
    const n = p.add(f.name);
    where.push(`(strpos(lower(subject), lower(${n})) > 0 OR strpos(lower(sans), lower(${n})) > 0)`);
  }
  if (f.expiringBefore) where.push(`not_after < ${p.add(f.expiringBefore)}`);
  for (const k of ["owner", "application", "environment", "criticality"] as const) {
    if (f[k]) where.push(`${k} = ${p.add(f[k])}`);
  }
  if (f.requester) {
    const i = f.requester.indexOf(":");
    where.push(`requester_kind = ${p.add(f.requester.slice(0, i))} AND requester_id = ${p.add(f.requester.slice(i + 1))}`);
  }
  return { sql: `SELECT * FROM certificates WHERE ${where.join(" AND ")} ORDER BY row_id DESC LIMIT $${p.values.length + 1}`, values: p.values };
}

/** The request page query, oldest first (the approval queue's order). */
export function requestPageSql(status: RequestStatus | undefined, after?: string): PageSql {
  const p = new Params();
  const where = [`row_id > ${p.add(after ?? "0")}`];
  if (status) where.push(`status = ${p.add(status)}`);
  return { sql: `SELECT * FROM requests WHERE ${where.join(" AND ")} ORDER BY row_id LIMIT $${p.values.length + 1}`, values: p.values };
}

/**
 * Audit events by sequence number after `after`, with the query's filters (queryAudit and pageAudit). Newest first
 * (`order: "desc"`), `after` is the upper bound instead, 0 meaning none: the last event's seq is the next cursor either way.
 */
export function auditPageSql(f: AuditQuery, after: number): PageSql {
  const p = new Params();
  const desc = f.order === "desc";
  const where: string[] = [desc ? (after > 0 ? `seq < ${p.add(after)}` : "TRUE") : `seq > ${p.add(after)}`];
  if (f.type) where.push(`type = ${p.add(f.type)}`);
  if (f.target) where.push(`target = ${p.add(f.target)}`);
  if (f.from) where.push(`ts >= ${p.add(f.from)}`);
  if (f.to) where.push(`ts < ${p.add(f.to)}`);
  return { sql: `SELECT * FROM audit_events WHERE ${where.join(" AND ")} ORDER BY seq${desc ? " DESC" : ""} LIMIT $${p.values.length + 1}`, values: p.values };
}

/** Runs a page query for one row more than the page, to know whether another page follows. */
export async function fetchPage<R>(c: Queryable, s: PageSql, limit: number, map: (row: Row) => R): Promise<{ rows: Row[]; items: R[]; more: boolean }> {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new RangeError(`page size must be 1-${MAX_PAGE_SIZE}`);
  const rows = await q(c, undefined, s.sql, [...s.values, limit + 1]);
  const more = rows.length > limit;
  if (more) rows.pop();
  return { rows, items: rows.map(map), more };
}
