import { EnrollmentService } from "../../src/enrollment/service.js";
import { GatewayError, isErrorCode, toGatewayError } from "../../src/errors.js";
import type { Profile } from "../../src/policy/profile.js";
import type { AcmeAuthzRecord, AcmeChallengeRecord, AcmeIdentifierRecord, AcmeOrderRecord, AcmeProblemRecord } from "../../src/store/acme-types.js";
import type { RequestRecord } from "../../src/store/types.js";
import { certificateForCertId } from "./ari.js";
import { newId, randomToken, type AcmeContext, type AcmeUrls } from "./context.js";
import { checkOrderIdentifiers, isDeviceIdentifier, normaliseIdentifiers, sansOf } from "./identifiers.js";
import type { DeviceIdentifier } from "./attest/types.js";
import { deviceSans } from "../../src/policy/device.js";
import { sanList, type AttestedDevice } from "../../src/policy/request.js";
import { orderStatus } from "./order-state.js";
import { problemRecord } from "./problems.js";
import { orderJson } from "./render.js";
import type { AcmeReply } from "./reply.js";
import { accountKeySpki, accountOf, objectPayload, type SignedRequest } from "./signed-request.js";

const HOUR = 3_600_000;

/** Profiles this endpoint offers over ACME (directory meta.profiles). */
export function offeredProfiles(ctx: AcmeContext, urls: AcmeUrls): Profile[] {
  const names = urls.endpoint.profiles;
  return ctx.gw.profiles.all().filter((p) => p.protocols.includes("acme") && (!names || names.includes(p.name)));
}

function pickProfile(ctx: AcmeContext, urls: AcmeUrls, requested: unknown, eabProfiles?: string[]): Profile {
  if (requested !== undefined && typeof requested !== "string") throw new GatewayError("RA_ERR_MALFORMED", "profile must be a string");
  const name = requested ?? urls.endpoint.defaultProfile ?? eabProfiles?.[0] ?? ctx.gw.config.defaultProfile;
  const profile = offeredProfiles(ctx, urls).find((p) => p.name === name);
  if (!profile) throw new GatewayError("RA_ERR_UNKNOWN_PROFILE", `profile ${JSON.stringify(name)} is not offered by this ACME endpoint`);
  if (eabProfiles && !eabProfiles.includes(profile.name)) throw new GatewayError("RA_ERR_UNKNOWN_PROFILE", `this account's external binding does not allow profile ${profile.name}`);
  return profile;
}

function parseTime(v: unknown, field: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) ? new Date(v) : undefined;
  if (!d || Number.isNaN(d.getTime())) throw new GatewayError("RA_ERR_MALFORMED", `${field} must be an RFC 3339 date-time`);
  return d;
}

function challengesFor(id: AcmeIdentifierRecord, wildcard: boolean, profile: Profile): AcmeChallengeRecord[] {
  // Devices prove themselves only by attestation, against the trust anchors of this order's profile.
  if (isDeviceIdentifier(id)) return [{ type: "device-attest-01", status: "pending", profile: profile.name }];
  // Wildcards can only be proven in DNS; IP addresses have no DNS challenge (RFC 8738 §7).
  const types: AcmeChallengeRecord["type"][] = wildcard ? ["dns-01"] : id.type === "ip" ? ["http-01", "tls-alpn-01"] : ["http-01", "dns-01", "tls-alpn-01"];
  return types.map((type) => ({ type, status: "pending" }));
}

/** newOrder (§7.4): identifiers checked against the profile up front, authorizations reused or created. */
export async function newOrder(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest): Promise<AcmeReply> {
  const account = accountOf(r);
  const p = objectPayload(r);
  const eab = account.eabKeyId ? await ctx.store.getEabKey(account.eabKeyId) : undefined;
  const identifiers = normaliseIdentifiers(p.identifiers);
  const profile = pickProfile(ctx, urls, p.profile, eab?.profiles);
  try {
    checkOrderIdentifiers(identifiers, profile, eab);
  } catch (e) {
    const err = toGatewayError(e);
    await ctx.gw.audit.record({ type: "acme.order.rejected", actor: `acme-account:${account.id}`, data: { identifiers, profile: profile.name, code: err.code, reason: err.message } });
    throw err;
  }
  const notBefore = parseTime(p.notBefore, "notBefore");
  const notAfter = parseTime(p.notAfter, "notAfter");
  const now = Date.now();
  const effectiveStart = notBefore?.getTime() ?? now;
  if (notAfter && notAfter.getTime() <= effectiveStart) throw new GatewayError("RA_ERR_MALFORMED", "notAfter must be later than notBefore");
  if (notAfter && notAfter.getTime() - effectiveStart > profile.validity.max) {
    throw new GatewayError("RA_ERR_VALIDITY_TOO_LONG", `the requested validity exceeds the profile maximum of ${Math.floor(profile.validity.max / 86_400_000)} days`);
  }
  if (notBefore && (notBefore.getTime() < now - 86_400_000 || notBefore.getTime() > now + 30 * 86_400_000)) {
    throw new GatewayError("RA_ERR_MALFORMED", "notBefore must lie between a day ago and 30 days ahead");
  }
  let replaces: string | undefined;
  if (p.replaces !== undefined) {
    const old = await certificateForCertId(ctx.gw, p.replaces);
    if (old.requesterKind !== "acme-account" || old.requesterId !== account.id) throw new GatewayError("RA_ERR_ALREADY_REPLACED", "the certificate to replace was not issued to this account");
    if (old.replacedBy) throw new GatewayError("RA_ERR_ALREADY_REPLACED", `the certificate was already replaced by ${old.replacedBy}`);
    const names = new Set(sanList(isDeviceIdentifier(identifiers[0]) ? deviceSans(identifiers[0], profile) : sansOf(identifiers)).map((n) => n.toLowerCase()));
    if (!old.sans.some((s) => names.has(s.toLowerCase()))) throw new GatewayError("RA_ERR_MALFORMED", "the replacement order shares no identifier with the certificate it replaces");
    replaces = old.serial;
  }

  const nowIso = new Date(now).toISOString();
  const minValid = new Date(now + 24 * HOUR).toISOString();
  const authzs: AcmeAuthzRecord[] = [];
  const fresh: AcmeAuthzRecord[] = [];
  for (const id of identifiers) {
    const wildcard = id.type === "dns" && id.value.startsWith("*.");
    const base = { type: id.type, value: wildcard ? id.value.slice(2) : id.value };
    // A device attests afresh for every order: its key is new each time.
    const reused = ctx.cfg.reuseValidAuthz && !isDeviceIdentifier(id) ? await ctx.store.findReusableAuthz(account.id, base, wildcard, minValid) : undefined;
    if (reused) {
      authzs.push(reused);
      continue;
    }
    const a: AcmeAuthzRecord = {
      id: newId(), accountId: account.id, identifier: base, wildcard, status: "pending",
      expires: new Date(now + ctx.cfg.orderLifetimeHours * HOUR).toISOString(), token: randomToken(32),
      challenges: challengesFor(base, wildcard, profile), updatedAt: nowIso,
    };
    authzs.push(a);
    fresh.push(a);
  }
  const order: AcmeOrderRecord = {
    id: newId(), accountId: account.id, endpoint: urls.endpoint.name, status: "pending", identifiers, authzIds: authzs.map((a) => a.id),
    profile: profile.name, notBefore: notBefore?.toISOString(), notAfter: notAfter?.toISOString(),
    expires: new Date(now + ctx.cfg.orderLifetimeHours * HOUR).toISOString(), replaces, createdAt: nowIso,
  };
  await ctx.gw.store.transaction(async (tx) => {
    for (const a of fresh) await tx.acme.insertAuthz(a);
    await tx.acme.insertOrder(order);
  });
  return { status: 201, json: orderJson(order, orderStatus(order, authzs, nowIso), urls), location: urls.order(order.id) };
}

/**
 * Loads an order of this account and settles a processing order: from its request once issued, rejected or failed,
 * or abandoned when its finalization stalled (see abandonStalled).
 */
export async function loadOrder(ctx: AcmeContext, r: SignedRequest, id: string): Promise<{ order: AcmeOrderRecord; authzs: AcmeAuthzRecord[] }> {
  const account = accountOf(r);
  let order = await ctx.store.getOrder(id);
  if (!order || order.accountId !== account.id) throw new GatewayError("RA_ERR_NOT_FOUND", "no such order for this account");
  if (order.status === "processing" && order.requestId) {
    const req = await ctx.gw.store.getRequest(order.requestId);
    let wrote = true;
    // Every settlement is conditional on `processing`: whichever instance settles first decides the order.
    if (req?.status === "issued" && req.certificateSerial) await ctx.store.settleOrder(id, { status: "valid", certSerial: req.certificateSerial });
    else if (req && (req.status === "rejected" || req.status === "failed")) {
      // A request that failed after approval keeps its own error (policy, authorization webhook); an operator's no is a rejection.
      const stored = req.errorCode && isErrorCode(req.errorCode) ? req.errorCode : undefined;
      const code = req.status === "rejected" ? stored ?? "RA_ERR_APPROVAL_REJECTED" : stored ?? "RA_ERR_INTERNAL";
      await ctx.store.settleOrder(id, { status: "invalid", error: problemRecord(new GatewayError(code, req.reason ?? `the request was ${req.status}`)) });
    } else wrote = await abandonStalled(ctx, order, req);
    if (wrote) order = (await ctx.store.getOrder(id))!;
  }
  return { order, authzs: await ctx.store.getAuthzs(order.authzIds) };
}

/**
 * RFC 8555 §7.1.6: a finalization that fails makes the order invalid, and the client places a new one. One whose
 * instance died after the claim (its request missing, or approved with the certificate never completed) would stay
 * processing forever: once `finalizeTimeoutSeconds` have passed since the claim (or since an operator's approval,
 * which may come days later), the next read of the order, on any instance, abandons it. A request awaiting approval
 * is never abandoned. True when the order may have changed (this call or a concurrent one settled it).
 */
async function abandonStalled(ctx: AcmeContext, order: AcmeOrderRecord, req: RequestRecord | undefined): Promise<boolean> {
  if (req && req.status !== "approved") return false;
  const timeout = ctx.cfg.finalizeTimeoutSeconds;
  const before = new Date(Date.now() - timeout * 1000).toISOString();
  const started = order.finalizeStartedAt;
  if (!started) return false;
  const since = req?.decidedAt && req.decidedAt > started ? req.decidedAt : started;
  if (since >= before) return false;
  const reason = `the finalization of this order was interrupted (not settled within ${timeout} s); place a new order`;
  const error: AcmeProblemRecord = { type: "urn:ietf:params:acme:error:serverInternal", detail: reason, status: 500 };
  return ctx.gw.store.transaction(async (tx) => {
    // The store re-checks order and request in its conditional writes: of two instances reading at once, one abandons.
    if (!(await tx.acme.abandonFinalize(order.id, before, error, reason))) return true;
    await ctx.gw.audit.record({ type: "acme.order.abandoned", actor: "system", target: order.id, data: {
      account: order.accountId, requestId: order.requestId, request: req?.status ?? "missing", finalizeStartedAt: order.finalizeStartedAt, timeoutSeconds: timeout,
    } }, tx);
    return true;
  });
}

function orderReply(ctx: AcmeContext, urls: AcmeUrls, order: AcmeOrderRecord, authzs: AcmeAuthzRecord[]): AcmeReply {
  const status = orderStatus(order, authzs, new Date().toISOString());
  return { json: orderJson(order, status, urls), location: urls.order(order.id), retryAfterSeconds: status === "processing" ? ctx.cfg.retryAfterSeconds : undefined };
}

export async function getOrder(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest, id: string): Promise<AcmeReply> {
  const { order, authzs } = await loadOrder(ctx, r, id);
  return orderReply(ctx, urls, order, authzs);
}

/**
 * finalize (§7.4): only a ready order, claimed atomically so concurrent calls issue once;
 * the CSR goes to the policy layer with the order's names and the account key forbidden.
 */
export async function finalize(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest, id: string): Promise<AcmeReply> {
  const account = accountOf(r);
  const p = objectPayload(r);
  const { order, authzs } = await loadOrder(ctx, r, id);
  const now = new Date().toISOString();
  const status = orderStatus(order, authzs, now);
  if (status !== "ready") throw new GatewayError("RA_ERR_ORDER_NOT_READY", `the order is ${status}, not ready`);
  if (typeof p.csr !== "string" || !/^[A-Za-z0-9_-]+$/.test(p.csr)) throw new GatewayError("RA_ERR_BAD_CSR", "csr must be base64url DER");
  const csr = new Uint8Array(Buffer.from(p.csr, "base64url"));
  const requestId = EnrollmentService.newRequestId();
  if (!(await ctx.store.claimOrderForFinalize(id, requestId))) throw new GatewayError("RA_ERR_ORDER_NOT_READY", "the order is already being finalized");
  let settled: AcmeOrderRecord = { ...order, status: "processing", requestId };
  let issued: string | undefined;
  try {
    const out = await ctx.gw.enrollment.enroll({
      requestId, protocol: "acme", requester: { kind: "acme-account", id: account.id, attributes: { endpoint: urls.endpoint.name, ...(account.eabKeyId ? { eab: account.eabKeyId } : {}) } },
      profile: order.profile, csr, forbiddenKeys: [accountSpki(r)],
      ...(isDeviceIdentifier(order.identifiers[0]) ? { attested: attestedDevice(order.identifiers[0], authzs) } : { expectedNames: sansOf(order.identifiers) }),
      validity: order.notBefore || order.notAfter ? { notBefore: order.notBefore ? new Date(order.notBefore) : undefined, notAfter: order.notAfter ? new Date(order.notAfter) : undefined } : undefined,
      renewalOf: order.replaces,
    });
    if (out.status === "issued") issued = out.certificate.serial;
  } catch (e) {
    const err = csrProblem(toGatewayError(e));
    // A bad CSR ends the order (§7.4: the order becomes invalid); the client sees the problem at once.
    await ctx.store.settleOrder(id, { status: "invalid", error: problemRecord(err) });
    throw err;
  }
  if (issued !== undefined) {
    if (await ctx.store.settleOrder(id, { status: "valid", certSerial: issued })) settled = { ...settled, status: "valid", certSerial: issued };
    else return settledElsewhere(ctx, urls, r, id, requestId, issued, authzs);
  }
  // Only the order row changed, as written above (the claim keeps others off it); the authorizations are still current.
  return orderReply(ctx, urls, settled, authzs);
}

/**
 * The order was no longer processing when this finalization issued. Either a poll settled it from the issued request
 * meanwhile (valid with this certificate: nothing to do), or, this finalization having outlasted
 * `finalizeTimeoutSeconds`, a read abandoned it: the order stays invalid (the client was told to order again), and the
 * certificate, issued and in the inventory, is on record for the operator, who may revoke it. The client gets the
 * order as it now is.
 */
async function settledElsewhere(ctx: AcmeContext, urls: AcmeUrls, r: SignedRequest, id: string, requestId: string, serial: string, authzs: AcmeAuthzRecord[]): Promise<AcmeReply> {
  const now = await ctx.store.getOrder(id);
  if (!now) throw new GatewayError("RA_ERR_NOT_FOUND", "no such order for this account");
  if (now.status !== "valid" || now.certSerial !== serial) {
    ctx.gw.log.warn({ order: id, requestId, serial }, "ACME certificate issued after its order was abandoned; the order stays invalid");
    await ctx.gw.audit.record({ type: "acme.order.issuedAfterAbandonment", actor: `acme-account:${accountOf(r).id}`, target: id, data: { requestId, serial } });
  }
  return orderReply(ctx, urls, now, authzs);
}

/** What the order's device-attest-01 proved: the CSR must be for that key. */
function attestedDevice(identifier: DeviceIdentifier, authzs: AcmeAuthzRecord[]): AttestedDevice {
  const att = authzs.flatMap((a) => a.challenges).find((c) => c.type === "device-attest-01" && c.status === "valid")?.attestation;
  if (!att) throw new GatewayError("RA_ERR_ORDER_NOT_READY", "the device attestation of this order is missing");
  // Records from before identities were checked carry no `identity`: treat them as delegated so the webhook rule applies.
  return { format: att.format, spki: new Uint8Array(Buffer.from(att.spki, "base64")), identifier, facts: att.facts, identity: att.identity ?? "delegated" };
}

function accountSpki(r: SignedRequest): Uint8Array {
  if (r.auth.via === "kid") return accountKeySpki(r.auth.account);
  return new Uint8Array(r.auth.key.key.export({ type: "spki", format: "der" }));
}

/** Parsing failures of the CSR are badCSR in ACME, not generic malformed. */
function csrProblem(e: GatewayError): GatewayError {
  return e.code === "RA_ERR_MALFORMED" || e.code === "RA_ERR_DER_LIMIT" ? new GatewayError("RA_ERR_BAD_CSR", `the CSR is malformed: ${e.message}`) : e;
}
