import { AsnConvert } from "@peculiar/asn1-schema";
import { Extensions, id_ce_subjectAltName, Name, SubjectAlternativeName } from "@peculiar/asn1-x509";
import { generalNamesToSans } from "../../src/asn1/general-names.js";
import { CmpDecodeError } from "./codec.js";
import { emptySans, type EnrollmentRequest } from "../../src/policy/request.js";
import type { TemplateInfo } from "./requests.js";

const CN = "2.5.4.3";

/** The CN of a decoded Name, the last one when several. */
export function commonNameOfName(name: Name): string | undefined {
  let cn: string | undefined;
  for (const rdn of name) {
    for (const atv of rdn) if (atv.type === CN) cn = atv.value.toString();
  }
  return cn;
}

/** The CN of a Name (DER), the last one when several. */
export function commonNameOf(nameDer: Uint8Array | undefined): string | undefined {
  return nameDer ? commonNameOfName(AsnConvert.parse(nameDer, Name)) : undefined;
}

/**
 * What the policy layer may take from a CRMF CertTemplate (the key, the CN, the SANs asked for); the
 * other requested extensions are only recorded, never copied, as with a CSR.
 */
export function templateRequest(t: TemplateInfo): NonNullable<EnrollmentRequest["certTemplate"]> {
  if (!t.publicKey) throw new CmpDecodeError("the certificate template carries no public key");
  let sans = emptySans();
  const requestedExtensions: string[] = [];
  if (t.extensions) {
    for (const ext of AsnConvert.parse(t.extensions, Extensions)) {
      requestedExtensions.push(ext.extnID);
      if (ext.extnID !== id_ce_subjectAltName) continue;
      // extnValue is the client's bytes, unchecked by the codec: a SAN that does not decode is badDataFormat, not a system failure.
      try {
        sans = generalNamesToSans(AsnConvert.parse(ext.extnValue, SubjectAlternativeName));
      } catch (e) {
        throw new CmpDecodeError("the template's subjectAltName does not decode", "RA_ERR_MALFORMED", (e as Error).message);
      }
    }
  }
  return { spki: t.publicKey, commonName: "commonName" in t ? t.commonName : commonNameOf(t.subject), sans, requestedExtensions };
}
