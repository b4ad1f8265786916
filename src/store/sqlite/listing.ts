import type Database from "better-sqlite3";
import { GatewayError } from "../../errors.js";
import { MAX_PAGE_SIZE, type AuditQuery, type CertificateQuery, type RequestStatus } from "../types.js";

/**
 * Keyset paging for the inventory listings. Certificates and requests are walked by SQLite rowid:
 * assigned on insert, larger than every rowid before it (only retention deletes rows, the long-expired
 * ones, never the newest, so no rowid is handed out twice), and never changed by an update. A walk
 * therefore sees each row that existed when it began exactly once, however many rows are issued,
 * revoked, classified or archived meanwhile. The cursor carries the rowid and the row's key; a cursor
 * whose rowid holds another key (VACUUM may renumber rowids), or no row that retention archived, is
 * refused instead of silently skipping or repeating rows.
 */

const MAX_ROWID = "9223372036854775807";

type Kind = "c" | "r";
type Prepare = (sql: string) => Database.Statement;

export function encodeCursor(kind: Kind, rowid: number | bigint, key: string): string {
  return Buffer.from(`${kind}:${rowid}:${key}`, "utf8").toString("base64url");
}

function badCursor(): GatewayError {
  return new GatewayError("RA_ERR_MALFORMED", "the cursor is not valid for this listing; start again without one");
}

/** The rowid a cursor continues after, checked against the row it names (or its archived copy). */
export function decodeCursor(prepare: Prepare, kind: Kind, cursor: string): string {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw badCursor();
  const m = /^([cr]):(\d{1,19}):(.{1,128})$/s.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m || m[1] !== kind) throw badCursor();
  const sql = kind === "c" ? "SELECT serial AS k FROM certificates WHERE rowid = ?" : "SELECT id AS k FROM requests WHERE rowid = ?";
  const row = prepare(sql).get(BigInt(m[2])) as { k: string } | undefined;
  if (row?.k === m[3]) return m[2];
  // Retention moved the cursor's row to the archive: the rows before it are where they were.
  if (!row && kind === "c" && prepare("SELECT 1 FROM certificates_archive WHERE serial = ?").get(m[3])) return m[2];
  throw badCursor();
}

/**
 * The page query for certificates, newest first. Filter columns whose index would not deliver rowid
 * order are written `+col` so SQLite never trades the keyset walk for an index range plus a sort;
 * the first page binds the largest rowid so every page is a bounded range search, never a scan.
 */
export function certificatePageSql(q: CertificateQuery, now: string, before?: string): { sql: string; args: Record<string, unknown> } {
  const where: string[] = ["rowid < @before"];
  const args: Record<string, unknown> = { before: BigInt(before ?? MAX_ROWID) };
  switch (q.status) {
    case "valid": where.push("stage = 'issued' AND revoked_at IS NULL AND +not_after > @now"); args.now = now; break;
    case "revoked": where.push("+revoked_at IS NOT NULL"); break;
    case "expired": where.push("stage = 'issued' AND +not_after <= @now"); args.now = now; break;
    case "intent": where.push("stage = 'intent'"); break;
    case "failed": where.push("stage = 'failed'"); break;
  }
  // profile, owner and requester indexes end in rowid: an equality on them keeps rowid order.
  if (q.profile) { where.push("profile = @profile"); args.profile = q.profile; }
  if (q.protocol) { where.push("protocol = @protocol"); args.protocol = q.protocol; }
  if (q.caName) { where.push("+ca_name = @caName"); args.caName = q.caName; }
  if (q.name) { where.push("(instr(lower(subject), lower(@name)) > 0 OR instr(lower(sans), lower(@name)) > 0)"); args.name = q.name; }
  if (q.expiringBefore) { where.push("+not_after < @expiringBefore"); args.expiringBefore = q.expiringBefore; }
  for (const k of ["owner", "application", "environment", "criticality"] as const) {
    if (q[k]) { where.push(`${k} = @${k}`); args[k] = q[k]; }
  }
  if (q.requester) {
    const i = q.requester.indexOf(":");
    where.push("requester_kind = @rk AND requester_id = @rid");
    Object.assign(args, { rk: q.requester.slice(0, i), rid: q.requester.slice(i + 1) });
  }
  return { sql: `SELECT rowid AS row_id, * FROM certificates WHERE ${where.join(" AND ")} ORDER BY rowid DESC LIMIT @limit`, args };
}

/** The page query for enrollment requests, oldest first (the approval queue's order). */
export function requestPageSql(status: RequestStatus | undefined, after?: string): { sql: string; args: Record<string, unknown> } {
  const args: Record<string, unknown> = { after: BigInt(after ?? 0) };
  if (status) args.status = status;
  return { sql: `SELECT rowid AS row_id, * FROM requests WHERE rowid > @after${status ? " AND status = @status" : ""} ORDER BY rowid LIMIT @limit`, args };
}

/**
 * The page query for audit events by sequence number (immutable, an INTEGER PRIMARY KEY). Newest first
 * (`order: "desc"`), `after` is the upper bound instead, 0 meaning none: the last event's seq is the next cursor either way.
 */
export function auditPageSql(q: AuditQuery, after: number): { sql: string; args: Record<string, unknown> } {
  const desc = q.order === "desc";
  const where: string[] = [desc ? (after > 0 ? "seq < @after" : "1 = 1") : "seq > @after"];
  const args: Record<string, unknown> = desc && after <= 0 ? {} : { after };
  if (q.type) { where.push("type = @type"); args.type = q.type; }
  if (q.target) { where.push("target = @target"); args.target = q.target; }
  if (q.from) { where.push("ts >= @from"); args.from = q.from; }
  if (q.to) { where.push("ts < @to"); args.to = q.to; }
  return { sql: `SELECT * FROM audit_events WHERE ${where.join(" AND ")} ORDER BY seq${desc ? " DESC" : ""} LIMIT @limit`, args };
}

/** Runs a page query for one row more than the page, to know whether another page follows. */
export function fetchPage<R>(prepare: Prepare, q: { sql: string; args: Record<string, unknown> }, limit: number, map: (row: Record<string, unknown>) => R): { rows: Array<Record<string, unknown>>; items: R[]; more: boolean } {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new RangeError(`page size must be 1-${MAX_PAGE_SIZE}`);
  const rows = prepare(q.sql).all({ ...q.args, limit: limit + 1 }) as Array<Record<string, unknown>>;
  const more = rows.length > limit;
  if (more) rows.pop();
  return { rows, items: rows.map(map), more };
}
