import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { CRLNumber, CRLReason, Extension, Name, RevokedCertificate, TBSCertList, Time, Version, id_ce_cRLNumber, id_ce_cRLReasons } from "@peculiar/asn1-x509";
import { algorithmIdentifier } from "../asn1/algorithms.js";
import type { CertificateAuthority } from "../ca/authority.js";
import { authorityKeyId } from "../ca/extensions.js";
import { serialBytes } from "../ca/serial.js";
import { signCrl, toArrayBuffer } from "../ca/sign-object.js";
import { wholeSeconds } from "../ca/tbs.js";
import type { CrlRecord, Store } from "../store/types.js";

export interface RevokedEntry {
  serial: string;
  revokedAt: string;
  reason: number;
}

/** Builds and signs a v2 CRL with AKI and CRL number; reason code entry extensions except for "unspecified". */
export async function buildCrl(ca: CertificateAuthority, entries: RevokedEntry[], crlNumber: number, thisUpdate: Date, nextUpdate: Date): Promise<Uint8Array> {
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

/** Keeps one current CRL per CA in the store; regenerated on revocation and on a schedule. */
export class CrlPublisher {
  constructor(private readonly store: Store, private readonly validityHours: number) {}

  async publish(ca: CertificateAuthority, now = new Date()): Promise<CrlRecord> {
    const number = this.store.nextCrlNumber(ca.name);
    const next = new Date(now.getTime() + this.validityHours * 3_600_000);
    const der = await buildCrl(ca, this.store.revokedFor(ca.name), number, now, next);
    const rec: CrlRecord = { caName: ca.name, number, thisUpdate: now.toISOString(), nextUpdate: next.toISOString(), der };
    this.store.saveCrl(rec);
    return rec;
  }

  /** The stored CRL, or a fresh one when none exists or it is past half its lifetime. */
  async current(ca: CertificateAuthority, now = new Date()): Promise<CrlRecord> {
    const cur = this.store.latestCrl(ca.name);
    if (cur) {
      const half = (new Date(cur.nextUpdate).getTime() + new Date(cur.thisUpdate).getTime()) / 2;
      if (now.getTime() < half) return cur;
    }
    return this.publish(ca, now);
  }
}
