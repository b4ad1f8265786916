// The object-tree CRL encoder the gateway used before the streamed one (src/revocation/crl-der.ts):
// kept only as the byte-for-byte oracle for tests and the "before" figure of the CRL benchmark.
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { CRLNumber, CRLReason, Extension, Name, RevokedCertificate, TBSCertList, Time, Version, id_ce_cRLNumber, id_ce_cRLReasons } from "@peculiar/asn1-x509";
import { algorithmIdentifier } from "../../src/asn1/algorithms.js";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import { authorityKeyId } from "../../src/ca/extensions.js";
import { serialBytes } from "../../src/ca/serial.js";
import { signCrl, toArrayBuffer } from "../../src/ca/sign-object.js";
import { wholeSeconds } from "../../src/ca/tbs.js";

export interface RevokedEntry {
  serial: string;
  revokedAt: string;
  reason: number;
}

export async function buildCrlReference(ca: CertificateAuthority, entries: RevokedEntry[], crlNumber: number, thisUpdate: Date, nextUpdate: Date): Promise<Uint8Array> {
  const revoked = entries.map((e) => new RevokedCertificate({
    userCertificate: toArrayBuffer(serialBytes(e.serial)),
    revocationDate: new Time(wholeSeconds(new Date(e.revokedAt))),
    crlEntryExtensions: e.reason === 0 ? undefined : [new Extension({ extnID: id_ce_cRLReasons, critical: false, extnValue: new OctetString(AsnConvert.serialize(new CRLReason(e.reason))) })],
  }));
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: algorithmIdentifier(ca.signer.algorithm),
    issuer: AsnConvert.parse(ca.subjectDer, Name),
    thisUpdate: new Time(wholeSeconds(thisUpdate)),
    nextUpdate: new Time(wholeSeconds(nextUpdate)),
    revokedCertificates: revoked.length ? revoked : undefined,
    crlExtensions: [
      authorityKeyId(ca.keyId),
      new Extension({ extnID: id_ce_cRLNumber, critical: false, extnValue: new OctetString(AsnConvert.serialize(new CRLNumber(crlNumber))) }),
    ],
  });
  return signCrl(ca.signer, tbs);
}
