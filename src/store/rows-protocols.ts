import type { CmpTransactionRecord } from "./cmp-types.js";
import type { DiscoveredCertificate } from "./discovery-types.js";
import type { OutboxRecord, OutboxStatus } from "./outbox-types.js";
import type { SessionRecord } from "./session-types.js";
import type { Row } from "./rows.js";

/** Row mappers of the CMP, outbox, discovery and session tables, shared by the SQLite and PostgreSQL stores. */

const bytes = (v: unknown) => new Uint8Array(v as Buffer);

export function toCmpTransaction(r: Row): CmpTransactionRecord {
  const serial = (r.serial as string | null) ?? undefined;
  return {
    id: r.id as string, label: r.label as string, lastNonce: bytes(r.last_nonce),
    protection: r.protection_kind === "mac" ? { kind: "mac", kid: r.mac_kid as string } : { kind: "signature", signerCert: bytes(r.signer_cert) },
    // A settle claim ('settling') was waiting for a confirmation when it carries a certificate, else for approval.
    state: r.state === "settling" ? (serial ? "waitingConfirm" : "pending") : (r.state as CmpTransactionRecord["state"]),
    certReqId: BigInt(r.cert_req_id as string), bodyType: r.body_type as CmpTransactionRecord["bodyType"],
    certDer: r.cert_der ? bytes(r.cert_der) : undefined, serial, requestId: (r.request_id as string | null) ?? undefined, expiresAt: r.expires_at as string,
  };
}

export function toOutbox(r: Row): OutboxRecord {
  return {
    id: r.id as number, sink: r.sink as string, auditSeq: r.audit_seq as number, payload: r.payload as string, status: r.status as OutboxStatus,
    attempts: r.attempts as number, nextAttemptAt: r.next_attempt_at as string, lastError: (r.last_error as string | null) ?? undefined,
    createdAt: r.created_at as string, deliveredAt: (r.delivered_at as string | null) ?? undefined,
  };
}

export function toDiscovered(r: Row): DiscoveredCertificate {
  return {
    fingerprint: r.fingerprint as string, subject: r.subject as string, issuer: r.issuer as string, serial: r.serial as string,
    notBefore: r.not_before as string, notAfter: r.not_after as string, keyAlgorithm: r.key_algorithm as string,
    keySize: (r.key_size as number | null) ?? undefined, signatureAlgorithm: r.signature_algorithm as string,
    sans: JSON.parse(r.sans as string) as string[], der: new Uint8Array(r.der as Buffer), locations: JSON.parse(r.locations as string) as string[],
    managedSerial: (r.managed_serial as string | null) ?? undefined, firstSeen: r.first_seen as string, lastSeen: r.last_seen as string,
  };
}

export const toSession = (r: Row): SessionRecord => ({
  idHash: r.id_hash as string, adminId: r.admin_id as string, adminName: r.admin_name as string,
  createdAt: r.created_at as string, lastSeen: r.last_seen as string, expiresAt: r.expires_at as string,
});
