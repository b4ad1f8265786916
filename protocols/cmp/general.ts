import { derSequence } from "../../src/asn1/der-encode.js";
import { oidDer } from "../../src/asn1/der-values.js";
import { normalizeSerial } from "../../src/ca/serial.js";
import { toGatewayError } from "../../src/errors.js";
import { genpBody, rpBody } from "./bodies.js";
import { CmpFailure, type CmpCall, type Reply } from "./context.js";
import { genmInfos, revDetails } from "./requests.js";

/** id-it types answered by genp (RFC 9483 §4.3, RFC 9480 §2.3). */
const IT = {
  signKeyPairTypes: "1.3.6.1.5.5.7.4.2",
  caCerts: "1.3.6.1.5.5.7.4.17",
  rootCaKeyUpdate: "1.3.6.1.5.5.7.4.18",
  certReqTemplate: "1.3.6.1.5.5.7.4.19",
  crlStatusList: "1.3.6.1.5.5.7.4.22",
  crls: "1.3.6.1.5.5.7.4.23",
} as const;

const EC_KEY = "1.2.840.10045.2.1";
const CURVE = { "P-256": "1.2.840.10045.3.1.7", "P-384": "1.3.132.0.34" } as const;
const RSA_KEY = "1.2.840.113549.1.1.1";

/**
 * rr: revokes when the request is signed by the certificate itself, comes from the identity it was
 * issued to, or from a trusted RA (RFC 9483 §4.2). One RevDetails per message.
 */
export async function revoke(c: CmpCall): Promise<Reply> {
  const details = revDetails(c.body);
  if (details.length !== 1) throw new CmpFailure(["badRequest"], "send one revocation request per message");
  const d = details[0];
  if (!d.serialHex) throw new CmpFailure(["badCertTemplate"], "the revocation template names no serial number");
  const serial = normalizeSerial(d.serialHex);
  const rec = await c.deps.gw.store.getCertificate(serial);
  const ca = rec && c.deps.gw.cas.find(rec.caName);
  if (!rec || !ca || (d.issuer && !Buffer.from(d.issuer).equals(Buffer.from(ca.subjectDer)))) throw new CmpFailure(["badCertId"], "no certificate of this gateway with that issuer and serial");
  const byItself = c.auth.own?.serial === serial;
  const byRequester = rec.requesterKind === c.auth.requester.kind && rec.requesterId === c.auth.requester.id;
  if (!byItself && !byRequester && !c.auth.trustedRa) throw new CmpFailure(["notAuthorized"], "only the certificate's holder, its requester or a trusted RA may revoke it");
  if (rec.revokedAt) return { body: rpBody([{ status: 2, failInfo: ["certRevoked"], text: `certificate ${serial} is already revoked` }]), decision: "rejection", failInfo: ["certRevoked"] };
  try {
    await c.deps.gw.revocation.revoke(serial, d.reason ?? 0, c.actor);
  } catch (e) {
    const err = toGatewayError(e);
    if (err.kind === "internal") throw e;
    return { body: rpBody([{ status: 2, failInfo: ["badRequest"], text: err.message }]), decision: "rejection", failInfo: ["badRequest"] };
  }
  return { body: rpBody([{ status: 0 }]), decision: "revoked", detail: { serial, reason: d.reason ?? 0 } };
}

/** signKeyPairTypes from the profile's key rules: AlgorithmIdentifiers with the curve for EC. */
function keyPairTypes(c: CmpCall): Uint8Array {
  const algs = c.label.profile.keys.flatMap((k) => (k.type === "ec" ? k.curves.map((cv) => derSequence(oidDer(EC_KEY), oidDer(CURVE[cv]))) : [derSequence(oidDer(RSA_KEY))]));
  return derSequence(...algs);
}

/** genm → genp: caCerts, rootCaKeyUpdate (none pending), certReqTemplate (none), crlStatusList → crls, signKeyPairTypes. */
export async function generalMessage(c: CmpCall): Promise<Reply> {
  const asked = genmInfos(c.body);
  const ca = c.label.ca;
  const out: Array<{ oid: string; value?: Uint8Array }> = [];
  for (const info of asked.length ? asked : [{ oid: IT.caCerts }]) {
    switch (info.oid) {
      case IT.caCerts:
        out.push({ oid: IT.caCerts, value: derSequence(ca.certDer, ...ca.chain) });
        break;
      case IT.crlStatusList: {
        const crl = await c.deps.gw.crls.current(ca);
        out.push({ oid: IT.crls, value: derSequence(crl.der) });
        break;
      }
      case IT.signKeyPairTypes:
        out.push({ oid: IT.signKeyPairTypes, value: keyPairTypes(c) });
        break;
      default:
        // rootCaKeyUpdate, certReqTemplate and unknown types: the type echoed without a value ("none").
        out.push({ oid: info.oid });
    }
  }
  return { body: genpBody(out), decision: "genp", detail: { infoTypes: out.map((o) => o.oid) } };
}
