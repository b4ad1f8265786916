import type { AcmeAccountRecord, AcmeAuthzRecord, AcmeChallengeRecord, AcmeOrderRecord, AcmeOrderStatus } from "../../src/store/acme-types.js";
import type { AcmeUrls } from "./context.js";
import { authzStatus } from "./order-state.js";

/** JSON resources as RFC 8555 §7.1 defines them. */
export function accountJson(a: AcmeAccountRecord, urls: AcmeUrls): Record<string, unknown> {
  return { status: a.status, contact: a.contact, orders: urls.orders(a.id), createdAt: a.createdAt, ...(a.eabKeyId ? { externalAccountBinding: { kid: a.eabKeyId } } : {}) };
}

export function orderJson(o: AcmeOrderRecord, status: AcmeOrderStatus, urls: AcmeUrls): Record<string, unknown> {
  return {
    status,
    expires: o.expires,
    identifiers: o.identifiers,
    ...(o.notBefore ? { notBefore: o.notBefore } : {}),
    ...(o.notAfter ? { notAfter: o.notAfter } : {}),
    profile: o.profile,
    ...(o.replaces ? { replaces: o.replaces } : {}),
    authorizations: o.authzIds.map((id) => urls.authz(id)),
    finalize: urls.finalize(o.id),
    ...(status === "valid" && o.certSerial ? { certificate: urls.certificate(o.certSerial) } : {}),
    ...(status === "invalid" && o.error ? { error: o.error } : {}),
  };
}

export function challengeJson(a: AcmeAuthzRecord, c: AcmeChallengeRecord, urls: AcmeUrls): Record<string, unknown> {
  return {
    type: c.type,
    url: urls.challenge(a.id, c.type),
    status: c.status,
    token: a.token,
    ...(c.validated ? { validated: c.validated } : {}),
    ...(c.error ? { error: c.error } : {}),
  };
}

export function authzJson(a: AcmeAuthzRecord, urls: AcmeUrls, now: string): Record<string, unknown> {
  return {
    identifier: a.identifier,
    status: authzStatus(a, now),
    expires: a.expires,
    challenges: a.challenges.map((c) => challengeJson(a, c, urls)),
    ...(a.wildcard ? { wildcard: true } : {}),
  };
}
