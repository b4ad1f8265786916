import type { EnrollmentRequest } from "../policy/request.js";

/** JSON form of a request kept with pending approvals (CSR as base64, dates as ISO). */
export function serializeRequest(req: EnrollmentRequest): string {
  return JSON.stringify({
    ...req,
    csr: req.csr ? Buffer.from(req.csr).toString("base64") : undefined,
    forbiddenKeys: req.forbiddenKeys?.map((k) => Buffer.from(k).toString("base64")),
    // The imported key object is the front-end's shortcut, not part of the request: approval imports `spki` again.
    certTemplate: req.certTemplate ? { ...req.certTemplate, publicKey: undefined, spki: Buffer.from(req.certTemplate.spki).toString("base64") } : undefined,
    attested: req.attested ? { ...req.attested, spki: Buffer.from(req.attested.spki).toString("base64") } : undefined,
    validity: req.validity ? { notBefore: req.validity.notBefore?.toISOString(), notAfter: req.validity.notAfter?.toISOString() } : undefined,
  });
}

export function deserializeRequest(text: string): EnrollmentRequest {
  const o = JSON.parse(text) as Omit<EnrollmentRequest, "csr" | "validity" | "forbiddenKeys" | "certTemplate" | "attested"> & {
    csr?: string; forbiddenKeys?: string[]; validity?: { notBefore?: string; notAfter?: string };
    certTemplate?: Omit<NonNullable<EnrollmentRequest["certTemplate"]>, "spki"> & { spki: string };
    attested?: Omit<NonNullable<EnrollmentRequest["attested"]>, "spki"> & { spki: string };
  };
  return {
    ...o,
    csr: o.csr ? new Uint8Array(Buffer.from(o.csr, "base64")) : undefined,
    forbiddenKeys: o.forbiddenKeys?.map((k) => new Uint8Array(Buffer.from(k, "base64"))),
    certTemplate: o.certTemplate ? { ...o.certTemplate, spki: new Uint8Array(Buffer.from(o.certTemplate.spki, "base64")) } : undefined,
    attested: o.attested ? { ...o.attested, spki: new Uint8Array(Buffer.from(o.attested.spki, "base64")) } : undefined,
    validity: o.validity
      ? { notBefore: o.validity.notBefore ? new Date(o.validity.notBefore) : undefined, notAfter: o.validity.notAfter ? new Date(o.validity.notAfter) : undefined }
      : undefined,
  };
}
