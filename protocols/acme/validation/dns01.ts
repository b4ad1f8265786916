import { createHash } from "node:crypto";
import { GatewayError } from "../../../src/errors.js";
import type { AddressGuard } from "./address-guard.js";
import type { ValidationInput, ValidationRecord } from "./types.js";

/** dns-01: a TXT record at _acme-challenge.<name> equal to base64url(SHA-256(key authorization)). */
export async function validateDns01(input: ValidationInput, guard: AddressGuard, records: ValidationRecord[]): Promise<void> {
  if (input.identifier.type !== "dns") throw new GatewayError("RA_ERR_VALIDATION_DNS", "dns-01 cannot prove an IP address");
  const query = `_acme-challenge.${input.identifier.value}`;
  records.push({ hostname: input.identifier.value, query });
  const expected = createHash("sha256").update(input.keyAuthorization).digest("base64url");
  let txt: string[][];
  try {
    txt = await guard.resolver.resolveTxt(query);
  } catch (e) {
    throw new GatewayError("RA_ERR_VALIDATION_DNS", `no TXT record at ${query} (${(e as NodeJS.ErrnoException).code ?? "lookup failed"})`);
  }
  if (!txt.some((chunks) => chunks.join("") === expected)) {
    throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", `none of the ${txt.length} TXT record(s) at ${query} is the expected digest`);
  }
}
