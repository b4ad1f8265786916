import { createHash, type KeyObject } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestContext } from "../../src/server/middleware.js";
import { keyIdOf } from "../../src/ca/authority.js";
import type { EnrollmentOutcome } from "../../src/enrollment/service.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { GatewayError } from "../../src/errors.js";
import type { Gateway } from "../../src/gateway.js";
import { parseCsr, type ParsedCsr } from "../../src/policy/csr.js";
import type { Profile } from "../../src/policy/profile.js";
import { sansFromInventory, type EnrollmentRequest } from "../../src/policy/request.js";
import type { KeySpec } from "../../src/signers/signer.js";
import type { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import { authenticate, type AuthDeps, type EstIdentity } from "./auth.js";
import { derFromBase64Body, requirePkcs10 } from "./body.js";
import { bindingMatches, channelBinding } from "./channel-binding.js";
import { certsOnly } from "../../src/cms/signed-data.js";
import { serverKeyEnveloped } from "./cms.js";
import { readCsrRequestAttributes } from "./csr-attributes-read.js";
import type { EstLabel } from "./label.js";
import { base64Lines, multipartMixed } from "./multipart.js";
import { sendBase64, sendError, sendText } from "./render.js";

export type EnrollOp = "simpleenroll" | "simplereenroll" | "serverkeygen";

export interface EnrollDeps extends AuthDeps {
  gw: Gateway;
  secrets: EnrollmentSecrets;
  /** Signs the envelope of server-generated keys (RFC 7030 §4.4.2): the gateway's TLS identity. */
  envelopeSigner: { certDer: Uint8Array; chain: Uint8Array[]; key: KeyObject };
}

const CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only";

/** Identical requests in flight: the later ones wait and then get the first one's recorded answer. */
const inflight = new Map<string, Promise<void>>();

/** What the gateway generates for serverkeygen: the profile's first allowed key type, at its smallest allowed size. */
function keySpecFor(profile: Profile): KeySpec {
  const rule = profile.keys[0];
  if (rule.type === "ml-dsa") return { kind: "ml-dsa", level: rule.levels[0] };
  return rule.type === "ec" ? { kind: "ec", curve: rule.curves[0] } : { kind: "rsa", bits: Math.max(rule.minBits, 2048) };
}

/** The key part of a serverkeygen answer: enveloped when asked, in clear only over mutual TLS. */
interface KeyDelivery {
  encryptTo?: Buffer;
}

function keyDelivery(csrDer: Uint8Array, id: EstIdentity): KeyDelivery {
  const attrs = readCsrRequestAttributes(csrDer);
  if (attrs.decryptKeyId) throw new GatewayError("RA_ERR_NOT_SUPPORTED", "symmetric encryption of server-generated keys (DecryptKeyIdentifier) is not supported; ask for asymmetric encryption or use mutual TLS");
  if (attrs.asymmetricDecryptKeyId) {
    if (!id.clientCert) throw new GatewayError("RA_ERR_MALFORMED", "AsymmetricDecryptKeyIdentifier needs the TLS client certificate whose key the private key is encrypted to");
    if (!Buffer.from(keyIdOf(id.clientCert)).equals(Buffer.from(attrs.asymmetricDecryptKeyId))) {
      throw new GatewayError("RA_ERR_MALFORMED", "AsymmetricDecryptKeyIdentifier does not name the TLS client certificate's key");
    }
    return { encryptTo: id.clientCert.raw };
  }
  if (id.via !== "client-certificate") {
    throw new GatewayError("RA_ERR_PROFILE_NOT_ALLOWED", "a server-generated key is returned in clear only over mutually authenticated TLS; present a client certificate or ask for key encryption (RFC 7030 §4.4.2)");
  }
  return {};
}

function checkSecretSubject(id: EstIdentity, csr: ParsedCsr): void {
  const bound = id.secret?.subject;
  if (!bound) return;
  const names = [csr.commonName, ...csr.sans.dns, ...csr.sans.ip, ...csr.sans.email, ...csr.sans.uri];
  if (!names.includes(bound)) throw new GatewayError("RA_ERR_PROFILE_NOT_ALLOWED", `the enrollment secret is bound to subject ${bound}, which this CSR does not name`);
}

function buildRequest(op: EnrollOp, label: EstLabel, id: EstIdentity, csr: ParsedCsr): EnrollmentRequest {
  const base: EnrollmentRequest = { requestId: EnrollmentService.newRequestId(), protocol: "est", requester: id.requester, profile: label.profile.name };
  if (op === "serverkeygen") return { ...base, keyGen: { spec: keySpecFor(label.profile), subject: csr.commonName, names: csr.sans } };
  const lookupKey = createHash("sha256").update(`est|${op}|${label.cfg.name}|${id.requester.kind}:${id.requester.id}|`).update(csr.der).digest("hex");
  if (op === "simpleenroll") return { ...base, csr: csr.der, lookupKey };
  const old = id.ownCertificate!;
  // A renewal keeps what was certified: same profile, subject and names (RFC 7030 §4.2.2).
  return { ...base, profile: old.profile, csr: csr.der, lookupKey, renewalOf: old.serial, expectedSubject: old.subject, expectedNames: sansFromInventory(old.sans) };
}

async function render(res: ServerResponse, op: EnrollOp, label: EstLabel, out: EnrollmentOutcome, deps: EnrollDeps, delivery?: KeyDelivery): Promise<void> {
  if (out.status === "pending") {
    sendText(res, 202, `request ${out.requestId} is pending approval; repeat the same request later`, { "Retry-After": String(label.cfg.retryAfterSeconds) });
    return;
  }
  const certDer = certsOnly([out.certificate.der]);
  if (op !== "serverkeygen" || !out.privateKey) {
    sendBase64(res, CERTS_ONLY, certDer);
    return;
  }
  const pkcs8 = new Uint8Array(out.privateKey.export({ type: "pkcs8", format: "der" }));
  const keyPart = delivery?.encryptTo
    ? { contentType: "application/pkcs7-mime; smime-type=server-generated-key", body: base64Lines(await serverKeyEnveloped({ pkcs8, recipientCert: delivery.encryptTo, signerCert: deps.envelopeSigner.certDer, signerKey: deps.envelopeSigner.key, extraCerts: deps.envelopeSigner.chain })) }
    : { contentType: "application/pkcs8", body: base64Lines(pkcs8) };
  const body = multipartMixed([keyPart, { contentType: CERTS_ONLY, body: base64Lines(certDer) }]);
  res.statusCode = 200;
  res.setHeader("Content-Type", body.contentType);
  res.end(body.body);
}

async function audit(deps: EnrollDeps, type: string, actor: string, data: Record<string, unknown>): Promise<void> {
  await deps.gw.audit.record({ type, actor, data });
}

/** simpleenroll, simplereenroll and serverkeygen: authenticate, check the input (`body`, already read), enroll, render. */
export async function handleEnroll(op: EnrollOp, label: EstLabel, req: IncomingMessage, body: Buffer | undefined, res: ServerResponse, ctx: RequestContext, deps: EnrollDeps): Promise<void> {
  const realm = label.cfg.auth.basic ? `EST ${label.cfg.name}` : undefined;
  const auth = await authenticate(req, label, deps, op === "simplereenroll");
  if (!auth.ok) {
    await audit(deps, "est.auth.failed", `address:${req.socket.remoteAddress ?? "?"}`, { label: label.cfg.name, op, reason: auth.reason });
    sendError(res, new GatewayError("RA_ERR_UNAUTHORIZED", auth.reason), realm);
    return;
  }
  const id = auth.identity;
  const actor = `${id.requester.kind}:${id.requester.id}`;
  let decided = false; // once the enrollment service ran, it has audited the outcome itself
  try {
    requirePkcs10(req.headers["content-type"]);
    const csr = parseCsr(derFromBase64Body(body, "PKCS#10 certification request"));
    if (label.cfg.popLinking) {
      const binding = channelBinding(req.socket as TLSSocket);
      if (!binding || !bindingMatches(csr.challengePassword, binding.value)) {
        throw new GatewayError("RA_ERR_POP_FAILED", `the CSR's challengePassword must carry this TLS session's channel binding (${binding?.type ?? "tls-unique or tls-exporter"}), base64 (RFC 7030 §3.5)`);
      }
    }
    checkSecretSubject(id, csr);
    const delivery = op === "serverkeygen" ? keyDelivery(csr.der, id) : undefined;
    const request = buildRequest(op, label, id, csr);
    const key = request.lookupKey;
    // The key is taken before the first await (the look-up of a recorded answer is a store call): of identical
    // requests one looks up and enrolls at a time, the others wait and then find its recorded answer.
    let release: (() => void) | undefined;
    if (key) {
      while (inflight.has(key)) await inflight.get(key);
      inflight.set(key, new Promise<void>((r) => (release = r)));
    }
    try {
      const previous = key ? await deps.gw.enrollment.previousOutcome(key) : undefined;
      if (previous) {
        await audit(deps, "est.request.repeated", actor, { label: label.cfg.name, op, requestId: previous.requestId, status: previous.status });
        return await render(res, op, label, previous, deps, delivery);
      }
      decided = true;
      if (id.secret && !(await deps.secrets.consume(id.secret.id, "est"))) {
        throw new GatewayError("RA_ERR_UNAUTHORIZED", "the enrollment secret was already used or has expired");
      }
      await render(res, op, label, await deps.gw.enrollment.enroll(request), deps, delivery);
    } finally {
      if (key) {
        inflight.delete(key);
        release!();
      }
    }
  } catch (e) {
    const err = sendError(res, e, realm);
    if (err.kind === "internal") ctx.log.error({ code: err.code, err: e instanceof Error ? e.message : String(e), op, label: label.cfg.name }, "EST request failed");
    if (!decided) await audit(deps, "est.request.refused", actor, { label: label.cfg.name, op, via: id.via, code: err.code, reason: err.message });
  }
}
