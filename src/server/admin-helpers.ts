import type { Request } from "express";
import type { CertificateRecord } from "../store/types.js";

/** The audit actor of an admin API call. */
export const actor = (req: Request) => `admin:${req.admin?.name ?? "unknown"}`;

/** A certificate as the admin API lists it: its status derived, never the DER. */
export function certJson(r: CertificateRecord) {
  const now = new Date().toISOString();
  const status = r.stage !== "issued" ? r.stage : r.revokedAt ? "revoked" : r.notAfter <= now ? "expired" : "valid";
  const { der: _der, ...rest } = r;
  return { ...rest, status };
}

/** A non-empty string query or body value, else undefined. */
export function str(v: unknown): string | undefined {
  return typeof v === "string" && v.length > 0 ? v : undefined;
}
