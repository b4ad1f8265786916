import { AsyncLocalStorage } from "node:async_hooks";
import { ERROR_CODES, isErrorCode } from "../errors.js";

/**
 * The HTTP request being handled, visible to code that is not handed it (the audit log, error renderers deep in
 * a protocol). Entered by middleware.ts for every request the listeners serve; absent in background work
 * started outside a request (schedules, the CLI).
 */
export interface ActiveRequest {
  /** The X-Request-Id sent back to the client. */
  readonly id: string;
  /** The error code the request was refused with, counted once when the response is finished. */
  refusal?: string;
}

export const requestScope = new AsyncLocalStorage<ActiveRequest>();

/** The X-Request-Id of the request this code runs for, if any. */
export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.id;
}

/**
 * A front-end answered with a refusal: counted in gateway_refusals_total{protocol,code} when the response
 * finishes. "Pending approval" is not a refusal; unknown codes are counted as RA_ERR_INTERNAL (bounded labels).
 */
export function noteRefusal(code: string): void {
  const r = requestScope.getStore();
  if (!r) return;
  const c = isErrorCode(code) ? code : "RA_ERR_INTERNAL";
  if (ERROR_CODES[c].kind !== "pending") r.refusal = c;
}
