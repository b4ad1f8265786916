import { GatewayError } from "../errors.js";

/** RFC 5280 CRLReason codes an operator may use for an end-entity certificate (7 is unused; 2, 8, 10 do not apply). */
export const REVOCATION_REASONS: Record<string, number> = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
};

export function parseReason(v: string | number | undefined): number {
  if (v === undefined) return 0;
  const code = typeof v === "number" ? v : /^\d+$/.test(v) ? Number(v) : REVOCATION_REASONS[v];
  if (code === undefined || !Object.values(REVOCATION_REASONS).includes(code)) {
    throw new GatewayError("RA_ERR_BAD_REVOCATION_REASON", `revocation reason ${JSON.stringify(v)} is not one of ${Object.keys(REVOCATION_REASONS).join(", ")}`);
  }
  return code;
}

export function reasonName(code: number): string {
  return Object.entries(REVOCATION_REASONS).find(([, c]) => c === code)?.[0] ?? String(code);
}
