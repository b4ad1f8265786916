// Fast path for CRL tests and the CRL benchmark: certificate rows written straight into SQLite in large
// transactions (no CSR, no signing, no audit). Rows look issued; `revoked` ones carry a time and a reason.
import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { serialHex } from "../../src/ca/serial.js";

export interface SeedOptions {
  revoked: boolean;
  /** Bytes of the stand-in certificate DER per row, so table pages look like a real inventory. */
  derBytes?: number;
  /** Revocation times spread over this many days before now. */
  spreadDays?: number;
  batch?: number;
}

const REASONS = [0, 1, 1, 4, 4, 4, 5, 6, 9, 3];

export function seedCertificates(db: Database.Database, caName: string, count: number, o: SeedOptions): string[] {
  const ins = db.prepare(`INSERT INTO certificates (serial, ca_name, profile, protocol, request_id, requester_kind, requester_id, subject, sans,
    not_before, not_after, key_algorithm, stage, tbs_sha256, der, created_at, revoked_at, revocation_reason)
    VALUES (?, ?, 'tls-server', 'admin', ?, 'seed', 'seed', 'CN=seeded', '[]', ?, ?, 'ec-p256', 'issued', '', ?, ?, ?, ?)`);
  const der = Buffer.alloc(o.derBytes ?? 0, 0x5a);
  const now = Date.now();
  const notBefore = new Date(now - 86_400_000).toISOString();
  const notAfter = new Date(now + 90 * 86_400_000).toISOString();
  const spreadS = (o.spreadDays ?? 90) * 86_400;
  const serials: string[] = [];
  const batch = o.batch ?? 50_000;
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    const bytes = randomBytes(17 * n);
    db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const serial = serialHex(bytes.subarray(i * 17, i * 17 + 17));
        const at = o.revoked ? new Date(Math.floor((now / 1000) - ((done + i) * 7919) % spreadS) * 1000).toISOString() : null;
        ins.run(serial, caName, `seed-${done + i}`, notBefore, notAfter, der.length ? der : null, notBefore, at, o.revoked ? REASONS[(done + i) % REASONS.length] : null);
        serials.push(serial);
      }
    })();
  }
  return serials;
}
