// Records for the conformance suite: built through the contract's types only (no SQL), unique per call so the tests
// of one file can share a store.
import { createHash, randomBytes } from "node:crypto";
import { expect } from "vitest";
import { eventHash } from "../../../src/audit/event-hash.js";
import type { AuditEvent, CertificateRecord, RequestRecord, Store } from "../../../src/store/types.js";

export const DAY = 86_400_000;
export const iso = (ms: number) => new Date(ms).toISOString();
/** "Now" for the suite: the real clock, since some methods judge validity by it (findCertificates, countExpiringWithin). */
export const NOW = Date.now();
export const at = (days: number) => iso(NOW + days * DAY);

/** A random lowercase hex tag: unique keys, serials and names per test. */
export const tag = (bytes = 6) => randomBytes(bytes).toString("hex");
export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** A certificate intent (stage "intent"; insertCertificateIntent ignores stage and der). */
export function certRecord(over: Partial<CertificateRecord> = {}): CertificateRecord {
  const serial = over.serial ?? `7f${tag(9)}`;
  return {
    serial, caName: "ca-test", profile: "tls-server", protocol: "acme", requestId: `req-${serial}`, requesterKind: "acme-account",
    requesterId: "acct-1", subject: `CN=${serial}.example.com`, sans: [`dns:${serial}.example.com`], notBefore: at(-10), notAfter: at(80),
    keyAlgorithm: "EC P-256", stage: "intent", tbsSha256: sha256(serial), createdAt: at(-10), ...over,
  };
}

export const der = (serial: string) => new Uint8Array(Buffer.from(`30820100${serial}`, "utf8"));

/** Inserts an intent and completes it: an issued certificate. */
export async function issue(s: { insertCertificateIntent(r: CertificateRecord): Promise<void>; completeIssuance(serial: string, der: Uint8Array): Promise<void> },
  over: Partial<CertificateRecord> = {}): Promise<CertificateRecord> {
  const r = certRecord(over);
  await s.insertCertificateIntent(r);
  await s.completeIssuance(r.serial, der(r.serial));
  return { ...r, stage: "issued" };
}

export function requestRecord(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: `r-${tag()}`, protocol: "est", requesterKind: "est-client", requesterId: "client-1", profile: "tls-server", status: "pending",
    payload: JSON.stringify({ csr: tag(16) }), createdAt: at(0), ...over,
  };
}

export type AuditInput = Omit<AuditEvent, "seq" | "prevHash" | "hash">;
/** The chain's one hash format: every store links and hashes with it. */
export const auditHash = (prev: string, seq: number, e: AuditInput) => eventHash(prev, seq, e);

/** Every audit event of the store (paged), checked to be one unbroken chain from seq 1 hashed by auditHash. */
export async function auditChain(s: Store): Promise<AuditEvent[]> {
  const all: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const p = await s.pageAudit({}, { limit: 50, cursor });
    all.push(...p.items);
    cursor = p.next;
  } while (cursor);
  all.forEach((e, i) => {
    expect(e.seq).toBe(i + 1);
    expect(e.prevHash).toBe(i ? all[i - 1].hash : "0".repeat(64));
    expect(e.hash).toBe(auditHash(e.prevHash, e.seq, { ts: e.ts, type: e.type, actor: e.actor, target: e.target, data: e.data }));
  });
  return all;
}
