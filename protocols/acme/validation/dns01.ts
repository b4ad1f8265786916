import { createHash } from "node:crypto";
import { GatewayError } from "../../../src/errors.js";
import type { ValidationContext } from "./context.js";
import type { ValidationInput } from "./types.js";

/** c-ares error codes → what the client is told. */
function lookupFailure(query: string, code: string | undefined): GatewayError {
  const why = code === "ENOTFOUND" ? `${query} does not exist (NXDOMAIN)`
    : code === "ENODATA" ? `no TXT record at ${query}`
    : code === "ETIMEOUT" ? `DNS query for TXT ${query} timed out`
    : code === "ESERVFAIL" ? `DNS query for TXT ${query} failed (SERVFAIL)`
    : code === "EREFUSED" ? `DNS query for TXT ${query} was refused`
    : `DNS query for TXT ${query} failed (${code ?? "unknown error"})`;
  return new GatewayError("RA_ERR_VALIDATION_DNS", why);
}

/** dns-01 (RFC 8555 §8.4): a TXT record at _acme-challenge.<name> equal to base64url(SHA-256(key authorization)). */
export async function validateDns01(input: ValidationInput, ctx: ValidationContext): Promise<void> {
  const name = input.identifier.value.replace(/\.$/, "");
  if (input.identifier.type !== "dns") throw new GatewayError("RA_ERR_VALIDATION_DNS", "dns-01 cannot validate an IP address identifier (RFC 8738 §7)");
  const query = `_acme-challenge.${name}`;
  ctx.records.push({ hostname: name, query });
  const expected = createHash("sha256").update(input.keyAuthorization).digest("base64url");
  let txt: string[][];
  try {
    txt = await ctx.resolver().resolveTxt(query);
  } catch (e) {
    throw lookupFailure(query, (e as NodeJS.ErrnoException).code);
  }
  if (txt.length === 0) throw lookupFailure(query, "ENODATA");
  // A TXT record may arrive split in 255-byte strings; its value is their concatenation.
  if (!txt.some((chunks) => chunks.join("") === expected)) {
    throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", `none of the ${txt.length} TXT record(s) at ${query} is the expected digest`);
  }
}
