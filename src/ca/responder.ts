import { createPrivateKey, sign as cryptoSign, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildName } from "../asn1/name.js";
import { generateSoftwareKey } from "../signers/software.js";
import { derToPem, keyIdForSpki, pemToDer, type CertificateAuthority } from "./authority.js";
import { authorityKeyId, basicConstraints, extendedKeyUsage, keyUsage, subjectKeyId } from "./extensions.js";
import { certify, spkiDer, writeSecretFile } from "./init.js";

/** id-kp-cmcRA (RFC 6402): the key signs protocol answers on behalf of the CA. */
const CMC_RA = "1.3.6.1.5.5.7.3.28";

/** A protocol responder's signing identity (CMP answers to signature-protected requests). */
export interface ResponderKey {
  certDer: Uint8Array;
  cert: X509Certificate;
  /** Issuing CA first, then upwards: sent along so clients can build the path. */
  chain: Uint8Array[];
  keyType: "ec";
  sign(data: Uint8Array, hash: string): Promise<Uint8Array>;
}

/**
 * The responder certificate the gateway makes for itself on first start (EC P-256 under `ca`, software key
 * in `dir`), or the one made before.
 */
export async function ensureSoftwareResponder(ca: CertificateAuthority, dir: string, subject: string): Promise<{ responder: ResponderKey; created: boolean }> {
  const certPath = join(dir, "responder.pem");
  const keyPath = join(dir, "responder-key.pem");
  let created = false;
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = generateSoftwareKey({ kind: "ec", curve: "P-256" });
    const der = await certify({
      signer: ca.signer, issuer: ca.subjectDer, subject: buildName([["O", "Enrollment Gateway"], ["CN", subject]]), publicKey: key, days: 825,
      extensions: [basicConstraints(false), keyUsage(["digitalSignature"]), extendedKeyUsage([CMC_RA]), subjectKeyId(keyIdForSpki(spkiDer(key))), authorityKeyId(ca.keyId)],
    });
    writeSecretFile(keyPath, key.export({ type: "pkcs8", format: "pem" }).toString());
    writeFileSync(certPath, derToPem(der));
    created = true;
  }
  const certDer = pemToDer(readFileSync(certPath, "utf8"));
  const key = createPrivateKey(readFileSync(keyPath));
  return {
    created,
    responder: {
      certDer, cert: new X509Certificate(certDer), chain: [ca.certDer, ...ca.chain], keyType: "ec",
      sign: (data, hash) => new Promise((resolve, reject) => cryptoSign(hash, data, key, (e, sig) => (e ? reject(e) : resolve(new Uint8Array(sig))))),
    },
  };
}
