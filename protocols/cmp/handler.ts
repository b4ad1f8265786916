import { X509Certificate } from "node:crypto";
import { verifyChain } from "../../src/ca/chain.js";
import { ownValidCertificate } from "../../src/ca/own-certificate.js";
import { toGatewayError } from "../../src/errors.js";
import { noteRefusal } from "../../src/server/request-context.js";
import { PKIHeader } from "./asn1/message.js";
import type { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { errorBody, pkiConfBody, responseHeader } from "./bodies.js";
import { decodePkiMessage, toDer, type DecodedMessage } from "./codec.js";
import { CmpFailure, requestEvent, type Authenticated, type CmpCall, type CmpDeps, type Reply } from "./context.js";
import { certificateRequest, confirm, poll } from "./enroll.js";
import { generalMessage, revoke } from "./general.js";
import type { CmpLabel } from "./label.js";
import { authenticateMac } from "./mac-auth.js";
import type { MacPlan } from "./mac.js";
import { responseHeaderDer } from "./answer-der.js";
import type { OpenTransaction } from "./transactions.js";
import { macAlgorithmOf, macProtectDer, signProtect, verifySignature } from "./protection.js";

const NEW_TRANSACTION = new Set(["ir", "cr", "p10cr", "kur", "rr", "genm"]);
/** The requests whose answer may open a transaction (certConf, approval), checked against the cap. */
const OPENS = new Set(["ir", "cr", "p10cr", "kur"]);

const hex = (b: ArrayBuffer | undefined) => (b ? Buffer.from(b).toString("hex") : "");

/** Who sent the message, by its protection; a failure is badMessageCheck (or signerNotTrusted) and is audited. */
async function authenticate(d: DecodedMessage, label: CmpLabel, deps: CmpDeps, open: OpenTransaction | undefined, peer: string): Promise<Authenticated> {
  const h = d.message.header;
  const kind = macAlgorithmOf(h);
  if (kind === "pbm" || kind === "pbmac1") return authenticateMac(d, label, deps, open, peer);
  if (kind === "signature") {
    const v = verifySignature(d);
    if (!v.ok || !v.signerCert) throw new CmpFailure(["badMessageCheck"], v.reason ?? "signature does not verify");
    const signer = new X509Certificate(v.signerCert);
    const subject = signer.subject.replace(/\n/g, ", ");
    const protection = { kind: "signature" as const, signerCert: v.signerCert };
    const own = label.cfg.ownCertificates ? await ownValidCertificate(deps.gw.store, deps.gw.cas, v.signerCert) : undefined;
    if (own) return { protection, requester: { kind: "cmp-cert", id: subject, attributes: { serial: own.serial } }, own, trustedRa: false };
    const chain = [signer, ...d.extraCerts.slice(1).flatMap((c) => { try { return [new X509Certificate(c)]; } catch { return []; } })];
    if (!verifyChain(chain, label.anchors)) throw new CmpFailure(["signerNotTrusted"], "the protection certificate is neither a valid certificate of this gateway nor anchored in this label's trust anchors");
    return { protection, requester: { kind: "cmp-cert", id: subject }, trustedRa: label.cfg.trustedRas.includes(subject) };
  }
  throw new CmpFailure(["badMessageCheck"], "the message is not protected");
}

/** pvno, transactionID, senderNonce, messageTime (RFC 9483 §3.5). */
function checkHeader(h: PKIHeader, d: DecodedMessage, deps: CmpDeps): string {
  if (h.pvno !== 2 && h.pvno !== 3) throw new CmpFailure(["unsupportedVersion"], `pvno ${h.pvno} is not supported (2 or 3)`);
  const txid = hex(h.transactionID);
  if (txid.length < 2 || txid.length > 128) throw new CmpFailure(["badRequest"], "transactionID must be 1 to 64 bytes");
  if (!h.senderNonce || h.senderNonce.byteLength < 16) throw new CmpFailure(["badSenderNonce"], "senderNonce must be at least 16 bytes");
  const skew = deps.gw.config.cmp.maxClockSkewSeconds * 1000;
  if (d.messageTime && Math.abs(d.messageTime.getTime() - Date.now()) > skew) throw new CmpFailure(["badTime"], "messageTime is too far from the server's clock");
  return txid;
}

/** Follow-ups must answer our last nonce, in a transaction opened by the same sender. */
function checkFollowUp(c: CmpCall): void {
  const t = c.open;
  if (!t) throw new CmpFailure(["badRequest"], "no open transaction with this transactionID");
  if (!c.header.recipNonce || !Buffer.from(c.header.recipNonce).equals(Buffer.from(t.lastNonce))) throw new CmpFailure(["badRecipientNonce"], "recipNonce does not match the server's last senderNonce");
  const p = c.auth.protection;
  const same = t.protection.kind === "mac" ? p.kind === "mac" && p.kid === t.protection.kid : p.kind === "signature" && Buffer.from(p.signerCert).equals(Buffer.from(t.protection.signerCert));
  if (!same) throw new CmpFailure(["notAuthorized"], "the follow-up is not protected by the transaction's sender");
}

async function dispatch(c: CmpCall): Promise<Reply> {
  const type = c.msg.bodyType;
  if (NEW_TRANSACTION.has(type)) {
    if (OPENS.has(type) && c.deps.tx.full()) {
      throw new CmpFailure(["systemUnavail"], "too many transactions are waiting for confirmation or approval; retry later");
    }
    if (!(await c.deps.tx.claim(c.transactionId))) throw new CmpFailure(["transactionIdInUse"], "this transactionID was already used");
  } else {
    checkFollowUp(c);
  }
  switch (type) {
    case "ir": case "cr": case "p10cr": case "kur": return certificateRequest(c);
    case "certConf": return confirm(c);
    case "pollReq": return poll(c);
    case "rr": return revoke(c);
    case "genm": return generalMessage(c);
    case "error": {
      // Conditional, as certConf: only one of several racing instances acts on it.
      const t = c.open!;
      if ((await c.deps.tx.finish(t)) && t.serial) await c.deps.gw.revocation.revoke(t.serial, "cessationOfOperation", c.actor).catch(() => undefined);
      return { body: pkiConfBody(), decision: "client error acknowledged" };
    }
    default: throw new CmpFailure(["badRequest"], `${type} is not a request this server answers`);
  }
}

/** A protected answer; `retryAfterSeconds` when the sender should wait (HTTP Retry-After). */
export interface CmpAnswer {
  der: Uint8Array;
  retryAfterSeconds?: number;
}

/**
 * One CMP request/response exchange: decode with limits, authenticate by the protection, check the header
 * and the transaction, act, and answer protected the way the request was (MAC with the same secret, or the
 * responder's signature). Every outcome is audited with the transactionID, the sender and the decision, but
 * refusals of throttled or busy MAC work (a metric counts those; the start of a throttle is audited).
 * `peer` is the source address, for the per-address throttle.
 */
export async function handleCmp(label: CmpLabel, der: Uint8Array, deps: CmpDeps, peer: string): Promise<CmpAnswer> {
  const audit = (actor: string, data: Record<string, unknown>) => deps.gw.audit.record({ type: "cmp.request", actor, data: { label: label.cfg.name, ...data } });
  let d: DecodedMessage;
  try {
    d = decodePkiMessage(der, { maxBytes: deps.gw.config.cmp.maxMessageBytes });
  } catch (e) {
    const decodeErr = toGatewayError(e);
    noteRefusal(decodeErr.code);
    const reason = decodeErr.message;
    await audit("cmp:unknown", { decision: "error", failInfo: ["badDataFormat"], reason });
    return { der: await protect(undefined, new PKIHeader({ pvno: 2 }), { body: errorBody({ failInfo: ["badDataFormat"], text: reason }), decision: "error" }, undefined, deps) };
  }
  const header = d.message.header;
  let auth: Authenticated | undefined;
  let transactionId = hex(header.transactionID);
  let reply: Reply;
  try {
    transactionId = checkHeader(header, d, deps);
    // A follow-up's transaction is read once, here: its MAC secret and every check come from this one read.
    const open = NEW_TRANSACTION.has(d.bodyType) ? undefined : await deps.tx.get(transactionId);
    auth = await authenticate(d, label, deps, open, peer);
    const actor = `${auth.requester.kind}:${auth.requester.id}`;
    reply = await dispatch({ label, deps, msg: d, header, body: d.message.body, auth, transactionId, actor, open });
  } catch (e) {
    const failure = e instanceof CmpFailure ? e : undefined;
    const err = failure ? undefined : toGatewayError(e);
    noteRefusal(err ? err.code : refusalCode(failure!.failInfo));
    if (err?.kind === "internal") deps.gw.log.error({ err: e instanceof Error ? e.message : String(e), transactionId }, "CMP request failed");
    const failInfo = failure?.failInfo ?? (err?.kind === "internal" ? ["systemFailure"] : err?.kind === "unavailable" ? ["systemUnavail"] : ["badRequest"]);
    const text = failure?.message ?? (err?.kind === "internal" ? "internal error" : err!.message);
    reply = { body: errorBody({ failInfo, text }), decision: "error", failInfo, detail: { reason: text } };
    if (failure?.o.unaudited) return { der: await protect(d, header, reply, auth, deps), retryAfterSeconds: failure.o.retryAfterSeconds };
    // The database is down: the refusal cannot be audited either (logged instead); the client is told to retry.
    if (err?.kind === "unavailable") {
      deps.gw.log.warn({ transactionId, reason: text }, "CMP request refused: database unavailable");
      return { der: await protect(d, header, reply, auth, deps), retryAfterSeconds: err.hints?.retryAfterSeconds };
    }
  }
  try {
    // Joins the issuance commits in flight (group commit) instead of a transaction of its own; durable before the answer
    // leaves. An answer with a certificate was recorded in the certificate's commit already.
    if (!reply.audited) await deps.gw.audit.recordAsync(requestEvent(label.cfg.name, auth ? `${auth.requester.kind}:${auth.requester.id}` : "cmp:unauthenticated", transactionId, d.bodyType, reply));
    return { der: await protect(d, header, reply, auth, deps) };
  } catch (e) {
    // The database went away after the decision: an answer that cannot be audited, or whose transaction state cannot
    // be kept for the follow-up, is not sent. The client is told to retry, in CMP. A certificate issued meanwhile is in
    // the inventory (recorded before this point) and, never confirmed, is handled as any unconfirmed one.
    const err = toGatewayError(e);
    if (err.kind !== "unavailable") throw e;
    noteRefusal(err.code);
    deps.gw.log.warn({ transactionId, reason: err.message }, "CMP answer withheld: database unavailable");
    const failInfo = ["systemUnavail"];
    const down: Reply = { body: errorBody({ failInfo, text: err.message }), decision: "error", failInfo, detail: { reason: err.message } };
    return { der: await protect(d, header, down, auth, deps), retryAfterSeconds: err.hints?.retryAfterSeconds };
  }
}

/** Protects the answer like the request: MAC with the same secret, else the responder's signature (also for failed protection). */
async function protect(d: DecodedMessage | undefined, req: PKIHeader, reply: Reply, auth: Authenticated | undefined, deps: CmpDeps): Promise<Uint8Array> {
  const responder = deps.responder;
  let der: Uint8Array;
  let nonce: Uint8Array;
  if (auth?.protection.kind === "mac" && d) {
    // The answer mirrors the request's parameters: its key is the cached one that verified the request. Should it
    // have been evicted meanwhile, derive it unbounded: refusing would waste the work already done.
    const keys = { derive: (plan: MacPlan, secret: Uint8Array) => deps.mac.pool.derive(plan, secret, { unbounded: true }), cache: deps.mac.cache };
    const senderKID = new Uint8Array(req.senderKID ?? new ArrayBuffer(0));
    const header = (protectionAlg: AlgorithmIdentifier) => {
      const h = responseHeaderDer(d, { sender: deps.responderSenderDer, protectionAlg, senderKID, implicitConfirm: reply.implicitConfirm });
      nonce = h.senderNonce;
      return h.der;
    };
    der = await macProtectDer(header, reply.body instanceof Uint8Array ? reply.body : toDer(reply.body), auth.protection.secret, keys, req.protectionAlg, reply.extraCerts);
  } else {
    const hdr = responseHeader(req, { sender: deps.responderSender, implicitConfirm: reply.implicitConfirm });
    nonce = new Uint8Array(hdr.senderNonce!);
    const known = (d: Uint8Array) => responder.chain.some((c) => Buffer.from(c).equals(Buffer.from(d)));
    const chain = [...responder.chain, ...(reply.extraCerts ?? []).filter((d) => !known(d))];
    der = await signProtect(hdr, reply.body, { cert: responder.certDer, chain, keyType: responder.keyType, sign: responder.sign });
  }
  // Durable before the answer leaves: the follow-up may reach another instance at once.
  await reply.remember?.(nonce!);
  return der;
}

/** The gateway error code a CMP-level refusal is counted under (gateway_refusals_total): by its first failInfo. */
function refusalCode(failInfo: string[]): string {
  switch (failInfo[0]) {
    case "badMessageCheck": case "signerNotTrusted": case "notAuthorized": return "RA_ERR_UNAUTHORIZED";
    case "badPOP": return "RA_ERR_POP_FAILED";
    case "badAlg": return "RA_ERR_ALGORITHM_NOT_ALLOWED";
    // Raised as a CmpFailure only for load the gateway sheds: throttled or busy MAC work (also in
    // gateway_cmp_mac_refused_total) and the cap on open transactions. A database outage is a GatewayError and is
    // counted under its own code (RA_ERR_STORE_UNAVAILABLE), never here.
    case "systemUnavail": return "RA_ERR_RATE_LIMITED";
    default: return "RA_ERR_MALFORMED";
  }
}
