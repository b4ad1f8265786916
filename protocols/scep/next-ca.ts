import { contentInfo, OID } from "../../src/cms/der.js";
import { certsOnly, signatureAlgId, signedData } from "../../src/cms/signed-data.js";
import type { ScepEndpoint } from "./endpoint.js";

/**
 * GetNextCACert (RFC 8894 §4.7): the rollover CA certificate as a degenerate certs-only PKCS#7,
 * carried in a SignedData signed by the current RA so clients can trust it before the rollover.
 */
export async function nextCaResponse(ep: ScepEndpoint): Promise<Uint8Array> {
  const body = await signedData({
    contentType: OID.data,
    content: certsOnly([ep.nextCaCert!]),
    signer: { cert: ep.ra.certDer, hash: "sha256", signatureAlg: signatureAlgId("rsa", "sha256") },
    extraCerts: [ep.ca.certDer],
    sign: (data, hash) => ep.ra.sign(data, hash),
  });
  return contentInfo(OID.signedData, body);
}
