import { createHash, randomBytes } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { octetStringDer, oidDer, unsignedIntegerDer } from "../../src/asn1/der-values.js";

const SHA1 = derSequence(oidDer("1.3.14.3.2.26"), Uint8Array.of(0x05, 0x00));
const NONCE = oidDer("1.3.6.1.5.5.7.48.1.2");

/** Makes RFC 6960 OCSPRequests for certificates of one issuer (SHA-1 CertIDs, as OpenSSL sends them by default). */
export class OcspRequests {
  private readonly nameHash: Uint8Array;
  private readonly keyHash: Uint8Array;

  constructor(issuerDer: Uint8Array) {
    const tbs = AsnConvert.parse(issuerDer, Certificate).tbsCertificate;
    this.nameHash = createHash("sha1").update(new Uint8Array(AsnConvert.serialize(tbs.subject))).digest();
    this.keyHash = createHash("sha1").update(new Uint8Array(tbs.subjectPublicKeyInfo.subjectPublicKey)).digest();
  }

  /** One request for `serialHex`; with `nonce`, a fresh 16-byte nonce extension (the responder then signs per request). */
  request(serialHex: string, nonce: boolean): Uint8Array {
    const certId = derSequence(SHA1, octetStringDer(this.nameHash), octetStringDer(this.keyHash), unsignedIntegerDer(Buffer.from(serialHex, "hex")));
    const extensions = nonce ? [derTlv(0xa2, derSequence(derSequence(NONCE, octetStringDer(octetStringDer(randomBytes(16))))))] : [];
    return derSequence(derSequence(derSequence(derSequence(certId)), ...extensions));
  }
}
