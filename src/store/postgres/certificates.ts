import type { CertificateQuery, CertificateRecord, CertificateStatusRow, Classification, IssuanceStage, Page, PageRequest } from "../types.js";
import type { ArchiveBatch, InventoryStats } from "../inventory-types.js";
import { namesKey } from "../names.js";
import { toCert } from "../rows.js";
import { exec, q, type Queryable, type Row } from "./db.js";
import { certificatePageSql, decodeCursor, encodeCursor, fetchPage } from "./listing.js";
import * as inventory from "./inventory.js";

/** A Uint8Array as a Buffer over the same memory (no copy of the DER). */
export function buf(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The certificate inventory on PostgreSQL: the same statements and conditions as SqliteTables' certificate
 * methods. `c` is the pool, or the client of the transaction this store view is bound to.
 */
export class PgCertificateTables {
  constructor(protected readonly c: Queryable) {}

  async insertCertificateIntent(r: CertificateRecord): Promise<void> {
    await exec(this.c, "cert_insert_intent", `INSERT INTO certificates (serial, ca_name, profile, protocol, request_id, requester_kind, requester_id,
      subject, sans, not_before, not_after, key_algorithm, stage, stage_detail, tbs_sha256, renewal_of, created_at, owner, application, environment,
      criticality, names_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'intent', NULL, $13, $14, $15, $16, $17, $18, $19, $20)`,
    [r.serial, r.caName, r.profile, r.protocol, r.requestId, r.requesterKind, r.requesterId, r.subject, JSON.stringify(r.sans), r.notBefore,
      r.notAfter, r.keyAlgorithm, r.tbsSha256, r.renewalOf ?? null, r.createdAt, r.owner ?? null, r.application ?? null, r.environment ?? null,
      r.criticality ?? null, namesKey(r.sans)]);
  }

  async completeIssuance(serial: string, der: Uint8Array): Promise<void> {
    const n = await exec(this.c, "cert_complete", "UPDATE certificates SET stage = 'issued', der = $1 WHERE serial = $2 AND stage = 'intent'", [buf(der), serial]);
    if (n !== 1) throw new Error(`certificate ${serial} was not in the intent stage`);
  }

  async failIssuance(serial: string, detail: string): Promise<void> {
    await exec(this.c, "cert_fail", "UPDATE certificates SET stage = 'failed', stage_detail = $1 WHERE serial = $2 AND stage = 'intent'", [detail, serial]);
  }

  async certificateStatus(serial: string): Promise<CertificateStatusRow | undefined> {
    // The archive only on a miss: OCSP still answers for a certificate retention moved out. Serials are stored
    // lowercase, as getCertificate looks them up.
    const s = serial.toLowerCase();
    const r = (await q(this.c, "cert_status", "SELECT ca_name, stage, revoked_at, revocation_reason FROM certificates WHERE serial = $1", [s]))[0]
      ?? (await q(this.c, "cert_status_archive", "SELECT ca_name, stage, revoked_at, revocation_reason FROM certificates_archive WHERE serial = $1", [s]))[0];
    if (!r) return undefined;
    return { caName: r.ca_name as string, stage: r.stage as IssuanceStage, revokedAt: (r.revoked_at as string) ?? undefined, revocationReason: (r.revocation_reason as number) ?? undefined };
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    // Hot table first; a certificate moved out by retention is still found, flagged archived.
    const s = serial.toLowerCase();
    const row = (await q(this.c, "cert_get", "SELECT * FROM certificates WHERE serial = $1", [s]))[0] ?? await inventory.archived(this.c, s);
    return row ? toCert(row) : undefined;
  }

  async findCertificates(f: CertificateQuery): Promise<CertificateRecord[]> {
    // The keyset listing's filters and order, skipped by offset: one definition of what each filter means.
    const s = certificatePageSql(f, new Date().toISOString());
    const n = s.values.length;
    return (await q(this.c, undefined, `${s.sql} OFFSET $${n + 2}`, [...s.values, Math.min(f.limit ?? 100, 1000), f.offset ?? 0])).map(toCert);
  }

  async pageCertificates(f: CertificateQuery, page: PageRequest): Promise<Page<CertificateRecord>> {
    const before = page.cursor ? await decodeCursor(this.c, "c", page.cursor) : undefined;
    const p = await fetchPage(this.c, certificatePageSql(f, new Date().toISOString(), before), page.limit, toCert);
    const last = p.rows.at(-1);
    return { items: p.items, next: p.more && last ? encodeCursor("c", last.row_id as number, last.serial as string) : undefined };
  }

  async classify(serial: string, cl: { [K in keyof Classification]?: Classification[K] | null }): Promise<boolean> {
    const set = (["owner", "application", "environment", "criticality"] as const).filter((k) => cl[k] !== undefined);
    if (!set.length) return (await this.getCertificate(serial)) !== undefined;
    return (await exec(this.c, undefined, `UPDATE certificates SET ${set.map((k, i) => `${k} = $${i + 2}`).join(", ")} WHERE serial = $1`,
      [serial, ...set.map((k) => cl[k])])) === 1;
  }

  async markReplaced(oldSerial: string, newSerial: string): Promise<void> {
    await exec(this.c, "cert_mark_replaced", "UPDATE certificates SET replaced_by = $1 WHERE serial = $2", [newSerial, oldSerial]);
  }

  async revoke(serial: string, reason: number, at: string): Promise<boolean> {
    return (await exec(this.c, "cert_revoke", `UPDATE certificates SET revoked_at = $1, revocation_reason = $2
      WHERE serial = $3 AND stage = 'issued' AND revoked_at IS NULL`, [at, reason, serial])) === 1;
  }

  async revokedFor(caName: string): Promise<Array<{ serial: string; revokedAt: string; reason: number }>> {
    return (await q(this.c, "cert_revoked_for", `SELECT serial, revoked_at, revocation_reason FROM certificates
      WHERE ca_name = $1 AND revoked_at IS NOT NULL ORDER BY revoked_at`, [caName]))
      .map((r) => ({ serial: r.serial as string, revokedAt: r.revoked_at as string, reason: r.revocation_reason as number }));
  }

  async renewalDue(profile: string, now: string, dueBefore: string, limit = 1000): Promise<CertificateRecord[]> {
    return (await q(this.c, "cert_renewal_due", `SELECT * FROM certificates WHERE profile = $1 AND stage = 'issued' AND revoked_at IS NULL
      AND replaced_by IS NULL AND not_after > $2 AND not_after <= $3 ORDER BY not_after LIMIT $4`, [profile, now, dueBefore, limit])).map(toCert);
  }

  async missedRenewals(now: string, limit = 1000, profile?: string): Promise<CertificateRecord[]> {
    return (await q(this.c, "cert_missed_renewals", `SELECT * FROM certificates WHERE stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL
      AND not_after <= $1 AND ($2::text IS NULL OR profile = $2) ORDER BY not_after DESC LIMIT $3`, [now, profile ?? null, limit])).map(toCert);
  }

  async countRenewalDue(profile: string, now: string, dueBefore: string): Promise<Array<{ owner: string; count: number }>> {
    return (await q(this.c, "cert_count_renewal_due", `SELECT coalesce(owner, '') AS owner, count(*) AS n FROM certificates WHERE profile = $1
      AND stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL AND not_after > $2 AND not_after <= $3 GROUP BY 1`, [profile, now, dueBefore]))
      .map((r) => ({ owner: r.owner as string, count: r.n as number }));
  }

  async countMissedRenewals(now: string): Promise<Array<{ profile: string; owner: string; count: number }>> {
    return (await q(this.c, "cert_count_missed", `SELECT profile, coalesce(owner, '') AS owner, count(*) AS n FROM certificates WHERE stage = 'issued'
      AND revoked_at IS NULL AND replaced_by IS NULL AND not_after <= $1 GROUP BY 1, 2`, [now]))
      .map((r) => ({ profile: r.profile as string, owner: r.owner as string, count: r.n as number }));
  }

  async insertNotice(serial: string, kind: string, at: string): Promise<boolean> {
    return (await exec(this.c, "cert_insert_notice", "INSERT INTO lifecycle_notices (serial, kind, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [serial, kind, at])) === 1;
  }

  async findValidByName(entry: string, now: string, limit: number): Promise<CertificateRecord[]> {
    return (await inventory.byName(this.c, entry, now, limit, "valid")).map(toCert);
  }

  async findHeldByName(entry: string, now: string, limit: number): Promise<CertificateRecord[]> {
    return (await inventory.byName(this.c, entry, now, limit, "held")).map(toCert);
  }

  archiveExpired(cutoff: string, at: string, limit: number): Promise<ArchiveBatch> {
    return inventory.archiveExpired(this.c, cutoff, at, limit);
  }

  async issuedAfter(afterSerial: string, limit: number): Promise<CertificateRecord[]> {
    return (await q(this.c, "cert_issued_after", "SELECT * FROM certificates WHERE stage = 'issued' AND serial > $1 ORDER BY serial LIMIT $2", [afterSerial, limit])).map(toCert);
  }

  replaceable(requester: { kind: string; id: string }, profile: string, sans: string[], notAfter: string, now: string, exclude: string): Promise<string | undefined> {
    return inventory.replaceable(this.c, requester, profile, namesKey(sans), notAfter, now, exclude);
  }

  certificateStats(s: { now: string; soon: string; weekStarts: string[] }): Promise<InventoryStats> {
    return inventory.stats(this.c, s);
  }

  async releaseHold(serial: string): Promise<boolean> {
    return (await exec(this.c, "cert_release_hold", "UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE serial = $1 AND revocation_reason = 6", [serial])) === 1;
  }

  async countExpiringWithin(days: number): Promise<number> {
    const now = new Date();
    const until = new Date(now.getTime() + days * 86_400_000).toISOString();
    const rows = await q<Row>(this.c, "cert_count_expiring", `SELECT count(*) AS n FROM certificates WHERE stage = 'issued' AND revoked_at IS NULL
      AND not_after > $1 AND not_after <= $2`, [now.toISOString(), until]);
    return rows[0].n as number;
  }
}
