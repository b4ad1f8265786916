import type { AcmeAccountRecord, AcmeAuthzRecord, AcmeEabKeyRecord, AcmeIdentifierRecord, AcmeOrderRecord } from "./acme-types.js";
import type { Row } from "./rows.js";

/** ACME row mappers shared by the SQLite and PostgreSQL stores (same columns, JSON lists as text). */
const opt = <T>(v: unknown): T | undefined => (v === null || v === undefined ? undefined : (v as T));
const json = <T>(v: unknown): T | undefined => (typeof v === "string" ? (JSON.parse(v) as T) : undefined);

export function toAccount(r: Row): AcmeAccountRecord {
  return {
    id: r.id as string, endpoint: r.endpoint as string, thumbprint: r.thumbprint as string, jwk: r.jwk as string,
    status: r.status as AcmeAccountRecord["status"], contact: json<string[]>(r.contact) ?? [], eabKeyId: opt(r.eab_key_id),
    createdAt: r.created_at as string,
  };
}

export function toOrder(r: Row): AcmeOrderRecord {
  return {
    id: r.id as string, accountId: r.account_id as string, endpoint: r.endpoint as string, status: r.status as AcmeOrderRecord["status"],
    identifiers: json(r.identifiers) ?? [], authzIds: json(r.authz_ids) ?? [], profile: r.profile as string,
    notBefore: opt(r.not_before), notAfter: opt(r.not_after), expires: r.expires as string, error: json(r.error),
    requestId: opt(r.request_id), certSerial: opt(r.cert_serial), replaces: opt(r.replaces), createdAt: r.created_at as string,
    finalizeStartedAt: opt(r.finalize_started_at),
  };
}

export function toAuthz(r: Row): AcmeAuthzRecord {
  return {
    id: r.id as string, accountId: r.account_id as string,
    identifier: { type: r.identifier_type as AcmeIdentifierRecord["type"], value: r.identifier_value as string }, wildcard: r.wildcard === 1,
    status: r.status as AcmeAuthzRecord["status"], expires: r.expires as string, token: r.token as string,
    challenges: json(r.challenges) ?? [], updatedAt: r.updated_at as string,
  };
}

export function toEab(r: Row): AcmeEabKeyRecord {
  return {
    id: r.id as string, hmacKey: r.hmac_key as string, endpoint: opt(r.endpoint), profiles: json(r.profiles) ?? [],
    nameSuffixes: json(r.name_suffixes) ?? [], createdBy: r.created_by as string, createdAt: r.created_at as string,
    expiresAt: opt(r.expires_at), accountId: opt(r.account_id),
  };
}
