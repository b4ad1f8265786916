import { GatewayError, toGatewayError } from "../../../src/errors.js";
import type { AcmeValidationConfig } from "../config.js";
import type { Resolver } from "node:dns/promises";
import { AddressGuard } from "./address-guard.js";
import type { ValidationContext } from "./context.js";
import { validateDns01 } from "./dns01.js";
import { validateHttp01 } from "./http01.js";
import { validateTlsAlpn01 } from "./tls-alpn01.js";
import type { ChallengeValidator, ValidationInput, ValidationRecord, ValidationResult } from "./types.js";

const SHOWN_CODES = new Set(["RA_ERR_VALIDATION_CONNECTION", "RA_ERR_VALIDATION_DNS", "RA_ERR_VALIDATION_INCORRECT", "RA_ERR_VALIDATION_TLS"]);
/** Tokens are base64url (RFC 8555 §8.1); anything else must never reach a URL path. */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

function run(input: ValidationInput, ctx: ValidationContext): Promise<void> {
  if (!TOKEN.test(input.token)) throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", "the challenge token is malformed");
  switch (input.type) {
    case "http-01": return validateHttp01(input, ctx);
    case "dns-01": return validateDns01(input, ctx);
    case "tls-alpn-01": return validateTlsAlpn01(input, ctx);
    default: throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", `unsupported challenge type ${String(input.type)}`);
  }
}

/**
 * One validator for all challenge types. Each run has its own AbortController and resolver;
 * both are shut when the run ends, so neither a timeout nor a failure leaves a socket or a
 * DNS query behind. Builds the address guard now, so a bad CIDR or resolver fails at start-up.
 */
export function createChallengeValidator(cfg: AcmeValidationConfig): ChallengeValidator {
  const guard = new AddressGuard(cfg);
  return {
    async validate(input: ValidationInput): Promise<ValidationResult> {
      const records: ValidationRecord[] = [];
      if (cfg.insecureSkipValidation) return { ok: true, records };
      const ac = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      let made: Resolver | undefined;
      let ok = false;
      try {
        // A c-ares channel per run only when a name must be looked up; cancelled with the run.
        const resolver = () => {
          if (!made) {
            made = guard.newResolver();
            if (ac.signal.aborted) made.cancel(); // a run cut off by the timeout that is still unwinding
            else ac.signal.addEventListener("abort", () => made?.cancel(), { once: true });
          }
          return made;
        };
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new GatewayError("RA_ERR_VALIDATION_CONNECTION", `validation timed out after ${cfg.timeoutMs} ms`)), cfg.timeoutMs);
        });
        const work = Promise.resolve().then(() => run(input, { cfg, guard, resolver, signal: ac.signal, records }));
        work.catch(() => undefined); // settles after a timeout too; nobody is listening then
        await Promise.race([work, timeout]);
        ok = true;
        return { ok: true, records: [...records] };
      } catch (e) {
        const err = toGatewayError(e);
        // Unexpected failures get a neutral message; the cause stays in detail for the log.
        const shown = SHOWN_CODES.has(err.code) ? err : new GatewayError("RA_ERR_VALIDATION_CONNECTION", "validation failed", { code: err.code, ...err.detail });
        // A copy: a run cut off by the timeout may still be unwinding.
        return { ok: false, error: shown, records: [...records] };
      } finally {
        clearTimeout(timer);
        // A failed or timed-out run may leave work open: abort closes it (sockets listen to the signal, the resolver
        // is cancelled). A run that succeeded has settled every socket and query it started, so only the resolver
        // is shut (abort would build a DOMException per validation for nothing).
        if (ok) made?.cancel();
        else ac.abort();
      }
    },
  };
}
