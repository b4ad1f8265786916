import { EnrollmentService, type EnrollmentOutcome } from "../../src/enrollment/service.js";
import { toGatewayError, type GatewayError } from "../../src/errors.js";
import { noteRefusal } from "../../src/server/request-context.js";
import { sansFromInventory, type EnrollmentRequest } from "../../src/policy/request.js";
import { acceptedCertRepDer, PKICONF_DER } from "./answer-der.js";
import { certRepBody, pollRepBody } from "./bodies.js";
import { CmpFailure, requestEvent, type CmpCall, type Reply } from "./context.js";
import { parseCsr } from "../../src/policy/csr.js";
import { certConfirms, certHashMatches, certRequests, p10Request, pollReqIds, type CertReqInfo } from "./requests.js";
import { commonNameOf, templateRequest } from "./template.js";
import { protectionRef, type OpenTransaction } from "./transactions.js";
import { CMP_OID } from "./oids.js";

type RepKind = "ip" | "cp" | "kup";
const KIND_FOR: Record<string, RepKind> = { ir: "ip", cr: "cp", p10cr: "cp", kur: "kup" };

/** RFC 9483 §4.1.4: the CertResponse of a p10cr carries certReqId -1. */
const P10_CERT_REQ_ID = -1n;

/** PKIFailureInfo for a policy refusal. */
function failInfoFor(e: GatewayError): string[] {
  switch (e.code) {
    case "RA_ERR_PROFILE_NOT_ALLOWED":
    case "RA_ERR_UNAUTHORIZED":
    case "RA_ERR_AUTHORIZATION_DENIED": return ["notAuthorized"];
    case "RA_ERR_AUTHORIZATION_UNAVAILABLE": return ["systemUnavail"];
    case "RA_ERR_BAD_CSR_SIGNATURE": return ["badPOP"];
    case "RA_ERR_WEAK_SIGNATURE_ALG":
    case "RA_ERR_ALGORITHM_NOT_ALLOWED": return ["badAlg"];
    case "RA_ERR_MALFORMED":
    case "RA_ERR_DER_LIMIT": return ["badDataFormat"];
    default: return ["badCertTemplate"];
  }
}

function wantsImplicitConfirm(c: CmpCall): boolean {
  return c.label.cfg.implicitConfirm && (c.header.generalInfo ?? []).some((g) => g.infoType === CMP_OID.implicitConfirm);
}

/** The proof of possession of an ir/cr/kur request (RFC 4211 §4; raVerified only from a trusted RA). */
function checkPop(c: CmpCall, r: CertReqInfo): void {
  if (r.popo.kind === "raVerified") {
    if (!c.auth.trustedRa) throw new CmpFailure(["badPOP"], "raVerified is accepted only from a trusted RA");
    return;
  }
  if (r.popo.kind !== "signature") throw new CmpFailure(["badPOP"], `proof of possession ${r.popo.kind} is not supported; sign the request (POPOSigningKey)`);
  if (!r.popo.verify()) throw new CmpFailure(["badPOP"], "the proof-of-possession signature does not verify with the template's key");
}

/**
 * The answer to an enrollment outcome; a waiting certificate opens a transaction for certConf. `was`: the
 * pending transaction a pollReq found decided, which this answer moves on (or ends, with implicit confirmation).
 */
function answer(c: CmpCall, kind: RepKind, certReqId: bigint, out: EnrollmentOutcome, implicit = wantsImplicitConfirm(c), was?: OpenTransaction): Reply {
  const base = { label: c.label.cfg.name, certReqId, bodyType: kind, protection: protectionRef(c.auth.protection), id: c.transactionId };
  // A pollReq racing another with the same nonce loses here; its client's certConf then fails on the nonce.
  const keep = (t: OpenTransaction) => (was ? c.deps.tx.advance(t, was) : c.deps.tx.open(t));
  if (out.status === "pending") {
    const expiresAt = Date.now() + 7 * 86_400_000;
    return {
      body: certRepBody(kind, { certReqId, status: 3, statusText: `request ${out.requestId} is waiting for approval` }), decision: "waiting", detail: { requestId: out.requestId },
      remember: (nonce) => keep({ ...base, state: "pending", requestId: out.requestId, lastNonce: nonce, expiresAt }),
    };
  }
  const cert = out.certificate;
  const caPubs = kind === "ip" ? [cert.chain[cert.chain.length - 1]] : undefined;
  // The issuing CA (and any CA between it and the root) goes along: the client cannot build the path from the
  // root in caPubs alone, least of all when the layers differ in algorithm (an ML-DSA issuing CA under an EC root).
  const extraCerts = cert.chain.length > 1 ? cert.chain.slice(0, -1) : [];
  return {
    body: acceptedCertRepDer(kind, certReqId, cert.der, caPubs), implicitConfirm: implicit, extraCerts, ...accepted(cert.serial, implicit),
    remember: implicit ? (was && (() => c.deps.tx.finish(was))) : (nonce) => keep({
      ...base, state: "waitingConfirm", certDer: cert.der, serial: cert.serial, lastNonce: nonce, expiresAt: Date.now() + c.deps.gw.config.cmp.confirmWaitSeconds * 1000,
    }),
  };
}

function rejection(kind: RepKind, certReqId: bigint, e: GatewayError): Reply {
  noteRefusal(e.code);
  const failInfo = failInfoFor(e);
  return { body: certRepBody(kind, { certReqId, status: 2, failInfo, statusText: `${e.code}: ${e.message}` }), decision: "rejection", failInfo, detail: { code: e.code } };
}

/** The audit summary of an answer with a certificate. */
const accepted = (serial: string, implicitConfirm: boolean) => ({ decision: "accepted", detail: { serial, implicitConfirm } });

/** Through the engine; an issued certificate's cmp.request event commits with it (issued-audit.ts). */
async function enroll(c: CmpCall, kind: RepKind, certReqId: bigint, request: EnrollmentRequest): Promise<Reply> {
  const implicit = wantsImplicitConfirm(c);
  const event = (serial: string) => requestEvent(c.label.cfg.name, c.actor, c.transactionId, c.msg.bodyType, accepted(serial, implicit));
  try {
    const { value: out, audited } = await c.deps.issued.issuing(request.requestId, event, () => c.deps.gw.enrollment.enroll(request));
    const reply = answer(c, kind, certReqId, out, implicit);
    return audited && out.status === "issued" ? { ...reply, audited } : reply;
  } catch (e) {
    const err = toGatewayError(e);
    // Not the request's fault, so not a rejection of it: an internal failure (systemFailure) or the database down
    // (systemUnavail, Retry-After, counted under the store's own code) is answered by the handler's error message.
    if (err.kind === "internal" || err.kind === "unavailable") throw e;
    return rejection(kind, certReqId, err);
  }
}

/** A one-time secret authenticates one enrollment: its bound subject must be named, then it is consumed atomically. */
async function useOneTimeSecret(c: CmpCall, names: Array<string | undefined>): Promise<void> {
  const once = c.auth.oneTime;
  if (!once) return;
  if (once.subject && !names.includes(once.subject)) throw new CmpFailure(["notAuthorized"], `the one-time secret is bound to subject ${once.subject}, which the request does not name`);
  if (!(await c.deps.secrets.consume(once.id, "cmp"))) throw new CmpFailure(["notAuthorized"], "the one-time secret was already used or has expired");
}

/** ir, cr, kur and p10cr: one request per message (RFC 9483 §4.1), through policy to the engine. */
export async function certificateRequest(c: CmpCall): Promise<Reply> {
  const type = c.msg.bodyType;
  const kind = KIND_FOR[type];
  const lookupKey = `cmp|${c.label.cfg.name}|${c.transactionId}`;
  const base: EnrollmentRequest = { requestId: EnrollmentService.newRequestId(), protocol: "cmp", requester: c.auth.requester, profile: c.label.profile.name, lookupKey };
  if (type === "p10cr") {
    const csr = p10Request(c.body);
    const parsed = parseCsr(csr);
    await useOneTimeSecret(c, [parsed.commonName, ...Object.values(parsed.sans).flat()]);
    return enroll(c, kind, P10_CERT_REQ_ID, { ...base, csr });
  }
  const reqs = certRequests(c.body);
  if (reqs.length !== 1) throw new CmpFailure(["badRequest"], "send one certificate request per message");
  const r = reqs[0];
  checkPop(c, r);
  const template = { ...templateRequest(r.template), publicKey: r.popo.verifiedKey() };
  const validity = r.template.validity && { notBefore: r.template.validity.notBefore, notAfter: r.template.validity.notAfter };
  if (type !== "kur") {
    await useOneTimeSecret(c, [template.commonName, ...Object.values(template.sans).flat()]);
    return enroll(c, kind, r.certReqId, { ...base, certTemplate: template, validity });
  }
  // kur: signed with the certificate being updated; subject and names stay (RFC 9483 §4.1.3).
  const old = c.auth.own;
  if (!old) throw new CmpFailure(["notAuthorized"], "kur must be signed with a valid certificate of this gateway");
  if (r.oldCertId && r.oldCertId.serialHex.toLowerCase().replace(/^0+/, "") !== old.serial.replace(/^0+/, "")) {
    throw new CmpFailure(["badCertId"], "oldCertID does not name the certificate that signed the request");
  }
  const oldNames = sansFromInventory(old.sans);
  const names = template.sans.dns.length + template.sans.ip.length + template.sans.email.length + template.sans.uri.length ? template.sans : oldNames;
  const oldCn = /(?:^|, )CN=([^,]*)$/.exec(old.subject)?.[1];
  return enroll(c, kind, r.certReqId, {
    ...base, profile: old.profile, renewalOf: old.serial, expectedSubject: old.subject, expectedNames: oldNames,
    certTemplate: { ...template, sans: names, commonName: commonNameOf(r.template.subject) ?? oldCn },
  });
}

function openTransaction(c: CmpCall): OpenTransaction {
  const t = c.open;
  if (!t) throw new CmpFailure(["badRequest"], "no open transaction with this transactionID");
  return t;
}

/** pollReq: the answer once an operator decided, else pollRep with checkAfter (RFC 9483 §4.4). */
export async function poll(c: CmpCall): Promise<Reply> {
  const t = openTransaction(c);
  if (t.state !== "pending") throw new CmpFailure(["badRequest"], "this transaction is not waiting for approval");
  const ids = pollReqIds(c.body);
  if (ids.length !== 1 || ids[0] !== t.certReqId) throw new CmpFailure(["badCertId"], "pollReq does not name the waiting request");
  let out: EnrollmentOutcome | undefined;
  try {
    out = await c.deps.gw.enrollment.previousOutcome(`cmp|${t.label}|${t.id}`);
  } catch (e) {
    await c.deps.tx.finish(t);
    return rejection(t.bodyType, t.certReqId, toGatewayError(e));
  }
  if (!out || out.status === "pending") {
    return { body: pollRepBody(t.certReqId, c.deps.gw.config.cmp.pollAfterSeconds, "waiting for approval"), decision: "pollRep", remember: (nonce) => c.deps.tx.advance({ ...t, lastNonce: nonce }, t) };
  }
  return answer(c, t.bodyType, t.certReqId, out, wantsImplicitConfirm(c), t);
}

/** certConf → pkiConf; a rejected certificate is revoked at once (RFC 9483 §4.1.1). */
export async function confirm(c: CmpCall): Promise<Reply> {
  const t = openTransaction(c);
  if (t.state !== "waitingConfirm" || !t.certDer || !t.serial) throw new CmpFailure(["badRequest"], "this transaction is not waiting for a certificate confirmation");
  const confirms = certConfirms(c.body);
  const mine = confirms.find((x) => x.certReqId === t.certReqId);
  if (confirms.length > 1 || (confirms.length === 1 && !mine)) throw new CmpFailure(["badCertId"], "certConf does not name the issued certificate");
  if (mine && !certHashMatches(mine, t.certDer)) throw new CmpFailure(["badCertId"], "certHash does not match the issued certificate");
  const accepted = mine?.accepted ?? false; // an empty certConf rejects (RFC 4210 §5.3.18)
  const reply = { body: PKICONF_DER, decision: accepted ? "confirmed" : "rejected by client (revoked)", detail: { serial: t.serial } };
  // Compare-and-set on state and nonce: of two instances handed the same certConf, one confirms, the other refuses.
  // A confirmation's audit event commits with it; a rejection's follows the revocation, as before.
  const event = requestEvent(c.label.cfg.name, c.actor, c.transactionId, c.msg.bodyType, reply);
  if (!(await c.deps.tx.finish(t, accepted ? (tx) => c.deps.gw.audit.record(event, tx) : undefined))) {
    throw new CmpFailure(["badRequest"], "this transaction was confirmed or settled meanwhile");
  }
  if (!accepted) await c.deps.gw.revocation.revoke(t.serial, "cessationOfOperation", c.actor).catch(() => undefined);
  return { ...reply, audited: accepted };
}
