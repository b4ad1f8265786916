import { GeneralName } from "@peculiar/asn1-x509";
import { emptySans, type SanSet } from "../policy/request.js";
import { deviceNameFromOtherName } from "./device-names.js";
import { canonicalIp } from "./ip.js";

/** Reads the name forms the gateway understands; other forms are reported as `other` so policy can refuse them. */
export function generalNamesToSans(names: GeneralName[]): SanSet & { other: number } {
  const out = { ...emptySans(), other: 0 };
  for (const n of names) {
    if (n.dNSName !== undefined) out.dns.push(n.dNSName.toLowerCase());
    else if (n.iPAddress !== undefined) out.ip.push(safeCanonicalIp(n.iPAddress));
    else if (n.rfc822Name !== undefined) out.email.push(n.rfc822Name);
    else if (n.uniformResourceIdentifier !== undefined) out.uri.push(n.uniformResourceIdentifier);
    else {
      const d = n.otherName && deviceNameFromOtherName(n.otherName.typeId, n.otherName.value);
      if (d) (out[d.kind] ??= []).push(d.text);
      else out.other++;
    }
  }
  return out;
}

export function sansToGeneralNames(s: SanSet): GeneralName[] {
  return [
    ...s.dns.map((d) => new GeneralName({ dNSName: d })),
    ...s.ip.map((ip) => new GeneralName({ iPAddress: canonicalIp(ip) })),
    ...s.email.map((e) => new GeneralName({ rfc822Name: e })),
    ...s.uri.map((u) => new GeneralName({ uniformResourceIdentifier: u })),
  ];
}

function safeCanonicalIp(text: string): string {
  try {
    return canonicalIp(text);
  } catch {
    return text; // policy rejects it as not an allowed IP
  }
}
