import type { AuditEvent, CertificateRecord, EnrollmentSecretRecord, RequestRecord, RequestStatus } from "./types.js";

/** A row as both engines return it: snake_case columns; JSON lists as text; DER as a Buffer. */
export type Row = Record<string, unknown>;

/** Row mappers shared by the SQLite and PostgreSQL stores: both keep the same columns with the same meaning. */
export function toCert(r: Row): CertificateRecord {
  return {
    serial: r.serial as string, caName: r.ca_name as string, profile: r.profile as string, protocol: r.protocol as CertificateRecord["protocol"],
    requestId: r.request_id as string, requesterKind: r.requester_kind as string, requesterId: r.requester_id as string,
    subject: r.subject as string, sans: JSON.parse(r.sans as string) as string[], notBefore: r.not_before as string, notAfter: r.not_after as string,
    keyAlgorithm: r.key_algorithm as string, stage: r.stage as CertificateRecord["stage"], stageDetail: (r.stage_detail as string) ?? undefined,
    tbsSha256: r.tbs_sha256 as string, der: r.der ? new Uint8Array(r.der as Buffer) : undefined, renewalOf: (r.renewal_of as string) ?? undefined,
    replacedBy: (r.replaced_by as string) ?? undefined, revokedAt: (r.revoked_at as string) ?? undefined,
    revocationReason: (r.revocation_reason as number) ?? undefined, createdAt: r.created_at as string,
    owner: (r.owner as string) ?? undefined, application: (r.application as string) ?? undefined,
    environment: (r.environment as string) ?? undefined, criticality: (r.criticality as CertificateRecord["criticality"]) ?? undefined,
    ...(r.archived_at ? { archived: true } : {}),
  };
}

export function toRequest(r: Row): RequestRecord {
  return {
    id: r.id as string, protocol: r.protocol as RequestRecord["protocol"], requesterKind: r.requester_kind as string, requesterId: r.requester_id as string,
    profile: r.profile as string, status: r.status as RequestStatus, reason: (r.reason as string) ?? undefined, errorCode: (r.error_code as string) ?? undefined,
    payload: r.payload as string, certificateSerial: (r.certificate_serial as string) ?? undefined, decidedBy: (r.decided_by as string) ?? undefined,
    createdAt: r.created_at as string, decidedAt: (r.decided_at as string) ?? undefined, lookupKey: (r.lookup_key as string) ?? undefined,
  };
}

export function toAudit(r: Row): AuditEvent {
  return {
    seq: r.seq as number, ts: r.ts as string, type: r.type as string, actor: r.actor as string, target: (r.target as string) ?? undefined,
    data: JSON.parse(r.data as string) as Record<string, unknown>, prevHash: r.prev_hash as string, hash: r.hash as string,
  };
}

export function toSecret(r: Row): EnrollmentSecretRecord {
  return {
    id: r.id as string, profile: r.profile as string, subject: (r.subject as string) ?? undefined, protocols: JSON.parse(r.protocols as string) as string[],
    secretHash: r.secret_hash as string, createdAt: r.created_at as string, expiresAt: r.expires_at as string, usedAt: (r.used_at as string) ?? undefined,
    sealed: (r.secret_sealed as string) ?? undefined,
  };
}
