import { createHash } from "node:crypto";
import { ownValidCertificate } from "../../src/ca/own-certificate.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import type { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import type { EnrollmentOutcome } from "../../src/enrollment/service.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { GatewayError, toGatewayError } from "../../src/errors.js";
import { noteRefusal } from "../../src/server/request-context.js";
import type { Gateway } from "../../src/gateway.js";
import { parseCsr, type ParsedCsr } from "../../src/policy/csr.js";
import { sansFromInventory, type EnrollmentRequest, type RequesterIdentity } from "../../src/policy/request.js";
import { buildCertRep, type CertRepOptions } from "./cert-rep.js";
import { verifyChallenge, type ChallengeKind } from "./challenge.js";
import type { ScepEndpoint } from "./endpoint.js";
import { openPkiMessage, parseIssuerAndSerial, ScepFailure, type PkiRequest } from "./pki-message.js";
import { failInfoOf } from "./scep-attrs.js";

/** SCEP messageType values (RFC 8894 §3.2.1.2). */
export const MessageType = { CertRep: 3, RenewalReq: 17, PKCSReq: 19, CertPoll: 20, GetCert: 21, GetCRL: 22 } as const;
const TYPE_NAMES: Record<number, string> = { 17: "RenewalReq", 19: "PKCSReq", 20: "CertPoll", 21: "GetCert", 22: "GetCRL" };

export interface OperationDeps {
  gw: Gateway;
  secrets: EnrollmentSecrets;
}

type FailInfo = NonNullable<CertRepOptions["failInfo"]>;

/** What the handler decided, for the CertRep and the audit trail. */
type Answer =
  | { status: "SUCCESS"; certs?: Uint8Array[]; crl?: Uint8Array; note?: string }
  | { status: "PENDING"; note?: string }
  | { status: "FAILURE"; failInfo: FailInfo; reason: string };

interface Context {
  ep: ScepEndpoint;
  req: PkiRequest;
  deps: OperationDeps;
  challengeKind?: ChallengeKind;
  requester?: RequesterIdentity;
}

const fail = (failInfo: FailInfo, reason: string): Answer => ({ status: "FAILURE", failInfo, reason });
const STORE_DOWN = "database unavailable";
/** A FAILURE answer made here rather than from a GatewayError: counted under the code that names it. */
const refusedAs = (code: string, a: Answer): Answer => (noteRefusal(code), a);

/** Records an exchange; with the database down it is logged instead, and the client still gets its signed answer. */
async function auditUnlessDown(deps: OperationDeps, transactionId: string | undefined, record: () => Promise<unknown>): Promise<void> {
  try {
    await record();
  } catch (e) {
    if (toGatewayError(e).kind !== "unavailable") throw e;
    deps.gw.log.warn({ transactionId }, "SCEP exchange not audited: database unavailable");
  }
}

function answerFrom(out: EnrollmentOutcome): Answer {
  return out.status === "issued" ? { status: "SUCCESS", certs: [out.certificate.der], note: out.requestId } : { status: "PENDING", note: out.requestId };
}

/** The retry key: the same transaction from the same key gets the same answer (RFC 8894 §3.3.3). */
function lookupKey(c: Context): string {
  return createHash("sha256").update(`scep|${c.ep.cfg.name}|${c.req.transactionId}|`).update(c.req.signerSpki).digest("hex");
}

async function previous(c: Context, key: string): Promise<Answer | undefined> {
  try {
    const out = await c.deps.gw.enrollment.previousOutcome(key);
    return out && answerFrom(out);
  } catch (e) {
    return refused(e);
  }
}

/** A refusal from the policy core or the CSR parser, with the failInfo its code calls for. */
function refused(e: unknown): Answer {
  const err = toGatewayError(e);
  noteRefusal(err.code);
  return fail(failInfoOf(err), err.message);
}

/**
 * The CSR's key is the signer's: the two SubjectPublicKeyInfos as encoded, and only when those differ (an encoder
 * that writes the same key another way, e.g. RSA parameters absent) the keys themselves in canonical form.
 */
function sameKey(csr: ParsedCsr, req: PkiRequest): boolean {
  if (Buffer.from(csr.spki.buffer, csr.spki.byteOffset, csr.spki.byteLength).equals(req.signerSpki)) return true;
  const spki = (k: ParsedCsr["publicKey"]) => k.export({ type: "spki", format: "der" });
  return spki(csr.publicKey).equals(spki(req.signer.publicKey));
}

async function enroll(c: Context): Promise<Answer> {
  // SHA-1 CSR signatures under legacy algorithms only; the CSR is checked before its challenge is looked at,
  // so a refused algorithm never uses up a one-time challenge.
  const allowSha1CsrSignature = c.ep.algorithms.legacy;
  let csr: ParsedCsr;
  try {
    csr = parseCsr(c.req.content, undefined, { allowSha1Signature: allowSha1CsrSignature });
  } catch (e) {
    const err = toGatewayError(e);
    return fail(failInfoOf(err), `the enveloped content is not a usable PKCS#10 request: ${err.message}`);
  }
  const key = lookupKey(c);
  const prior = await previous(c, key);
  if (prior) return prior;
  // A PKCSReq is signed with the key being certified (a self-signed certificate, RFC 8894 §2.3) and the reply is
  // encrypted to that key (RSA key transport or EC key agreement); a RenewalReq is signed with the current certificate,
  // whose key will next be the new one. An ML-DSA key can neither decrypt nor sign a SCEP message this RA verifies,
  // so such a certificate would be a dead end for SCEP: say so (before any challenge is looked at) rather than issue.
  if (csr.publicKey.asymmetricKeyType?.startsWith("ml-dsa")) {
    return refusedAs("RA_ERR_KEY_NOT_ALLOWED", fail("badAlg", `SCEP cannot certify an ${csr.publicKey.asymmetricKeyType.toUpperCase()} key: SCEP messages are signed with the certificate's key and answered encrypted to it, which needs an RSA or EC key; enroll ML-DSA keys over EST, CMP or ACME`));
  }
  const renewing = c.req.messageType === MessageType.RenewalReq ? await ownValidCertificate(c.deps.gw.store, c.deps.gw.cas, c.req.signerCert) : undefined;
  const base: EnrollmentRequest = {
    requestId: EnrollmentService.newRequestId(), protocol: "scep", requester: { kind: "scep", id: c.ep.cfg.name }, profile: c.ep.profile.name, csr: csr.der, lookupKey: key,
    ...(allowSha1CsrSignature ? { allowSha1CsrSignature } : {}),
  };
  let request: EnrollmentRequest;
  if (c.req.messageType === MessageType.RenewalReq) {
    if (!c.ep.cfg.renewal) return fail("badRequest", "renewal is not offered on this endpoint");
    if (!renewing) return fail("badRequest", "RenewalReq must be signed with a valid certificate issued by this gateway");
    c.requester = { kind: "scep-certificate", id: renewing.subject, attributes: { serial: renewing.serial } };
    request = { ...base, requester: c.requester, profile: renewing.profile, renewalOf: renewing.serial, expectedSubject: renewing.subject, expectedNames: sansFromInventory(renewing.sans) };
  } else {
    if (!sameKey(csr, c.req)) return refusedAs("RA_ERR_POP_FAILED", fail("badMessageCheck", "the message is not signed with the key of the request"));
    const verdict = await verifyChallenge(c.ep, csr.challengePassword, c.req.transactionId, csr, { store: c.deps.gw.store, secrets: c.deps.secrets });
    c.challengeKind = verdict.kind;
    if (!verdict.ok) return refusedAs("RA_ERR_UNAUTHORIZED", fail("badRequest", verdict.reason));
    c.requester = { kind: "scep", id: `${c.ep.cfg.name}:${verdict.kind}${verdict.secretId ? `:${verdict.secretId}` : ""}` };
    request = { ...base, requester: c.requester };
  }
  try {
    return answerFrom(await c.deps.gw.enrollment.enroll(request));
  } catch (e) {
    return refused(e);
  }
}

async function poll(c: Context): Promise<Answer> {
  return (await previous(c, lookupKey(c))) ?? fail("badCertId", "no request with this transactionID from this key");
}

function issuerCa(c: Context, issuerDer: Uint8Array) {
  return c.deps.gw.cas.all.find((a) => Buffer.from(a.subjectDer).equals(Buffer.from(issuerDer)));
}

async function getCert(c: Context): Promise<Answer> {
  const { issuer, serialHex } = parseIssuerAndSerial(c.req.content);
  const ca = issuerCa(c, issuer);
  const rec = ca && (await c.deps.gw.store.getCertificate(normalizeSerial(serialHex)));
  if (!ca || !rec?.der || rec.caName !== ca.name) return fail("badCertId", "no certificate with this issuer and serial number");
  return { status: "SUCCESS", certs: [rec.der] };
}

async function getCrl(c: Context): Promise<Answer> {
  const { issuer } = parseIssuerAndSerial(c.req.content);
  const ca = issuerCa(c, issuer);
  if (!ca) return fail("badCertId", "this gateway has no CA with that issuer name");
  const crl = await c.deps.gw.crls.current(ca);
  return { status: "SUCCESS", crl: crl.der };
}

async function dispatch(c: Context): Promise<Answer> {
  switch (c.req.messageType) {
    case MessageType.PKCSReq:
    case MessageType.RenewalReq:
      return enroll(c);
    case MessageType.CertPoll:
      return poll(c);
    case MessageType.GetCert:
      return getCert(c);
    case MessageType.GetCRL:
      return getCrl(c);
    default:
      return fail("badRequest", `messageType ${c.req.messageType} is not a request this RA answers`);
  }
}

/**
 * One PKIOperation: open the message (signature, envelope, algorithms), act on it, answer with a
 * CertRep signed by the RA. Undecipherable input still gets a signed FAILURE when the transaction
 * can be named; otherwise the caller answers HTTP 400. Every outcome is audited (never the challenge).
 */
export async function pkiOperation(ep: ScepEndpoint, der: Uint8Array, deps: OperationDeps, via: string): Promise<Uint8Array> {
  const audit = (type: string, data: Record<string, unknown>, actor = `scep:${ep.cfg.name}`) => deps.gw.audit.record({ type, actor, data: { endpoint: ep.cfg.name, via, ...data } });
  let req: PkiRequest;
  try {
    req = await openPkiMessage(der, {
      raCerts: [ep.ra.certDer], rawRsaDecrypt: (_i, block) => ep.ra.rawRsaDecrypt(block), maxBytes: deps.gw.config.scep.maxMessageBytes,
      allowLegacy: ep.algorithms.legacy, allowSingleDes: ep.algorithms.singleDes,
    });
  } catch (e) {
    if (!(e instanceof ScepFailure)) throw e;
    const p = e.partial;
    await auditUnlessDown(deps, p?.transactionId, () => audit("scep.request", { transactionId: p?.transactionId, digest: p?.digest, contentEncryption: p?.contentEncryption, decision: "FAILURE", failInfo: e.failInfo, reason: e.message }));
    if (!p?.transactionId || !p.senderNonce) throw new GatewayError("RA_ERR_MALFORMED", e.message);
    return certRep(ep, { status: "FAILURE", failInfo: e.failInfo, transactionId: p.transactionId, recipientNonce: p.senderNonce, digest: p.digest ?? "sha256" });
  }
  const c: Context = { ep, req, deps };
  let answer: Answer;
  try {
    answer = await dispatch(c);
  } catch (e) {
    const err = toGatewayError(e);
    noteRefusal(err.code);
    answer = err.kind === "internal" ? fail("badRequest", "internal error")
      : err.kind === "unavailable" ? fail("badRequest", `${STORE_DOWN}: ${err.message}`) : fail(failInfoOf(err), err.message);
    if (err.kind === "unavailable") deps.gw.log.warn({ transactionId: req.transactionId }, "SCEP request refused: database unavailable");
    if (err.kind === "internal") deps.gw.log.error({ err: e instanceof Error ? e.message : String(e), transactionId: req.transactionId }, "SCEP operation failed");
  }
  // With the database down the answer is still a signed FAILURE (RFC 8894 has no "try later" status short of
  // PENDING, which would promise a record we could not write); the refusal goes to the log instead of the audit.
  await auditUnlessDown(deps, req.transactionId, () => audit("scep.request", {
    messageType: TYPE_NAMES[req.messageType] ?? req.messageType, transactionId: req.transactionId, digest: req.digest, contentEncryption: req.contentEncryption,
    // Flagged so a report can find every exchange that ran under 56-bit encryption.
    ...(req.contentEncryption === "des-cbc" ? { singleDes: true } : {}),
    challengeKind: c.challengeKind, decision: answer.status,
    ...(answer.status === "FAILURE" ? { failInfo: answer.failInfo, reason: answer.reason } : { requestId: answer.note }),
  }, c.requester ? `${c.requester.kind}:${c.requester.id}` : undefined));
  return certRep(ep, {
    status: answer.status, transactionId: req.transactionId, recipientNonce: req.senderNonce, digest: req.digest, contentEncryption: req.contentEncryption,
    recipientCert: req.signerCert, recipient: req.signer, ...(answer.status === "FAILURE" ? { failInfo: answer.failInfo } : answer.status === "SUCCESS" ? { certs: answer.certs, crl: answer.crl } : {}),
  });
}

function certRep(ep: ScepEndpoint, o: Omit<CertRepOptions, "raCert" | "raSign">): Promise<Uint8Array> {
  // Answer with the request's digest unless the RA key can sign with one hash only.
  return buildCertRep({ ...o, digest: ep.ra.fixedHash ?? o.digest, raCert: ep.ra.certDer, raSign: (data, hash) => ep.ra.sign(data, hash) });
}
