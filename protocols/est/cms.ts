import type { KeyObject } from "node:crypto";
import { derSequence } from "../../src/asn1/der-encode.js";
import { certFacts, OID } from "../../src/cms/der.js";
import { envelopedData } from "../../src/cms/envelope.js";
import { keySigner, prepareSignedData } from "../../src/cms/signed-data.js";

/** EST's CMS: the encrypted server-generated key. The protocol-neutral writers live in src/cms/. */

export interface ServerKeyEnvelopeInput {
  /** The server-generated private key, DER PKCS#8 PrivateKeyInfo (= OneAsymmetricKey v1). */
  pkcs8: Uint8Array;
  /** The client's certificate whose public key the key is encrypted to (RFC 7030 §4.4.1.2). */
  recipientCert: Uint8Array;
  /** The certificate of the party that generated the key, and its private key (EC or RSA). */
  signerCert: Uint8Array;
  signerKey: KeyObject;
  /** More certificates for the SignedData (the signer's chain). */
  extraCerts?: Uint8Array[];
}

/**
 * The `application/pkcs7-mime; smime-type=server-generated-key` part of a /serverkeygen answer with
 * asymmetric key encryption. Layering, outermost first, per RFC 7030 §4.4.2 ("the private key is placed
 * inside of a CMS SignedData ... signed by the party that generated the private key ... The SignedData is
 * further protected by placing it inside of a CMS EnvelopedData, as described in Section 4 of [RFC5958]
 * ... the EnvelopedData is returned in the response as an application/pkcs7-mime part"):
 *
 *   ContentInfo { id-envelopedData, EnvelopedData {            -- ktri (RSA) or kari (EC) to recipientCert
 *     encryptedContentInfo { contentType id-signedData, AES-256-CBC( SignedData {
 *       encapContentInfo { eContentType id-ct-KP-aKeyPackage,    -- RFC 5958 §2
 *                          eContent AsymmetricKeyPackage ::= SEQUENCE OF OneAsymmetricKey { pkcs8 } },
 *       certificates { signerCert, extraCerts... }, signerInfos { signerCert's signature } }) } } }
 *
 * Sign-then-encrypt is also what RFC 5958 §4 and RFC 9483 §4.1.6 (CMP central key generation) do; the
 * signature stays private to the recipient and proves who generated the key. The encrypted content is the
 * bare SignedData (no inner ContentInfo), as RFC 5652 §6.1 nests content types.
 */
export async function serverKeyEnveloped(o: ServerKeyEnvelopeInput): Promise<Uint8Array> {
  const recipient = certFacts(o.recipientCert, "the recipient certificate");
  const keyPackage = derSequence(o.pkcs8); // AsymmetricKeyPackage with the one key
  const { signer, sign } = keySigner(o.signerCert, o.signerKey);
  // Version 3, signed attributes contentType, signingTime and messageDigest (RFC 5652 §5).
  const signed = prepareSignedData({ content: keyPackage, contentType: OID.aKeyPackage, signer, extraCerts: o.extraCerts ?? [] });
  return envelopedData({ content: signed.finish(sign(signed.toBeSigned)), contentType: OID.signedData, recipient });
}
