import type { Request } from "express";
import { GatewayError } from "../errors.js";
import { MAX_PAGE_SIZE, type CertificateRecord, type PageRequest } from "../store/types.js";

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

/**
 * `limit` (1 to 1000, default 100) and `cursor` of a listing. A larger limit is refused, never cut
 * short quietly: more rows come page by page with the `next` cursor of each answer.
 */
export function pageParams(req: Request, cursorParam = "cursor"): PageRequest {
  const limitText = req.query.limit === undefined ? "100" : str(req.query.limit) ?? "";
  const limit = /^\d{1,7}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= MAX_PAGE_SIZE)) {
    throw new GatewayError("RA_ERR_MALFORMED", `limit must be an integer from 1 to ${MAX_PAGE_SIZE}; page through more with the next cursor`);
  }
  const cursor = req.query[cursorParam];
  if (cursor !== undefined && (typeof cursor !== "string" || !cursor)) throw new GatewayError("RA_ERR_MALFORMED", `${cursorParam} must be the next value of a previous page`);
  return { limit, cursor: cursor as string | undefined };
}
