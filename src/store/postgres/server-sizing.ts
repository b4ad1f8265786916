/**
 * What `gateway db status` says about the PostgreSQL server's sizing for the gateway's data. An issuance descends
 * several B-trees of the certificate tables at random keys (serial, names): when those pages are not in the
 * server's buffer cache they come from the OS cache, and with a large cache on 4 KiB pages every cold page also
 * costs TLB misses. Measured on a requester holding 1,000,000 certificates (docs/performance.md): the PostgreSQL part
 * of an issuance cost 1.36-1.40x the 1,000-certificate figure on 4 KiB pages and 1.05-1.08x on huge pages.
 */
import type pg from "pg";

export interface ServerSizing {
  version: string;
  sharedBuffersBytes: number;
  /** The huge_pages setting: on, off or try. */
  hugePages: string;
  /** Whether they are in use (huge_pages_status, PostgreSQL 17+); null where the server does not say. */
  hugePagesStatus: string | null;
  /** The certificate tables with their indexes and TOAST, null before the first migration. */
  certificateBytes: number | null;
}

/** A buffer cache from this size on is worth huge pages (PostgreSQL's documentation says the same in other words). */
const HUGE_PAGES_FROM = 1024 ** 3;

export async function serverSizing(c: pg.ClientBase | pg.Pool): Promise<ServerSizing> {
  const r = await c.query<{ version: string; sb: string; hp: string; hps: string | null; certs: string | null }>(`
    SELECT current_setting('server_version') AS version, pg_size_bytes(current_setting('shared_buffers')) AS sb,
      current_setting('huge_pages') AS hp, current_setting('huge_pages_status', true) AS hps,
      pg_total_relation_size(to_regclass('certificates')) + coalesce(pg_total_relation_size(to_regclass('certificate_names')), 0) AS certs`);
  const row = r.rows[0];
  return {
    version: row.version, sharedBuffersBytes: Number(row.sb), hugePages: row.hp, hugePagesStatus: row.hps || null,
    certificateBytes: row.certs === null ? null : Number(row.certs),
  };
}

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function describeSizing(s: ServerSizing): string {
  const inUse = s.hugePagesStatus ? `, in use: ${s.hugePagesStatus}` : s.hugePages === "try" ? ", in use: not reported before PostgreSQL 17" : "";
  const data = s.certificateBytes === null ? "" : `; certificate tables and indexes ${formatBytes(s.certificateBytes)}`;
  return `PostgreSQL ${s.version}, shared_buffers ${formatBytes(s.sharedBuffersBytes)}, huge_pages ${s.hugePages}${inUse}${data}`;
}

/** Advice on the two settings that decide whether an issuance's cost stays flat as the inventory grows. */
export function sizingHints(s: ServerSizing): string[] {
  const hints: string[] = [];
  const see = "(docs/operations.md#sizing-the-database-server)";
  if (s.certificateBytes !== null && s.certificateBytes > s.sharedBuffersBytes) {
    hints.push(`shared_buffers (${formatBytes(s.sharedBuffersBytes)}) is smaller than the certificate tables and their indexes ` +
      `(${formatBytes(s.certificateBytes)}): issuances and lookups read index pages from outside PostgreSQL's cache; raise it ${see}`);
  }
  const off = s.hugePagesStatus ? s.hugePagesStatus === "off" : s.hugePages === "off";
  if (s.sharedBuffersBytes >= HUGE_PAGES_FROM && off) {
    hints.push(`huge pages are off with a ${formatBytes(s.sharedBuffersBytes)} buffer cache: set huge_pages = on and reserve ` +
      `vm.nr_hugepages on the server, or every cold page costs TLB misses ${see}`);
  }
  return hints;
}
