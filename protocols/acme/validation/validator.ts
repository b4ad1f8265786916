import { GatewayError, toGatewayError } from "../../../src/errors.js";
import type { AcmeValidationConfig } from "../config.js";
import { AddressGuard } from "./address-guard.js";
import { validateDns01 } from "./dns01.js";
import { validateHttp01 } from "./http01.js";
import { validateTlsAlpn01 } from "./tls-alpn01.js";
import type { ChallengeValidator, ValidationInput, ValidationRecord, ValidationResult } from "./types.js";

const VALIDATION_CODES = new Set(["RA_ERR_VALIDATION_CONNECTION", "RA_ERR_VALIDATION_DNS", "RA_ERR_VALIDATION_INCORRECT", "RA_ERR_VALIDATION_TLS"]);

/** One validator for all challenge types, bounded by `timeoutMs` as a whole; it never throws. */
export function createChallengeValidator(cfg: AcmeValidationConfig): ChallengeValidator {
  const guard = new AddressGuard(cfg);
  return {
    async validate(input: ValidationInput): Promise<ValidationResult> {
      const records: ValidationRecord[] = [];
      if (cfg.insecureSkipValidation) return { ok: true, records };
      const ac = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          ac.abort();
          reject(new GatewayError("RA_ERR_VALIDATION_CONNECTION", `validation timed out after ${cfg.timeoutMs} ms`));
        }, cfg.timeoutMs);
      });
      const run = (async () => {
        if (input.type === "http-01") await validateHttp01(input, cfg, guard, ac.signal, records);
        else if (input.type === "dns-01") await validateDns01(input, guard, records);
        else await validateTlsAlpn01(input, cfg, guard, ac.signal, records);
      })();
      try {
        await Promise.race([run, timeout]);
        return { ok: true, records };
      } catch (e) {
        const err = toGatewayError(e);
        // Anything unexpected is reported as a connection problem; its detail stays in our log.
        const shown = VALIDATION_CODES.has(err.code) ? err : new GatewayError("RA_ERR_VALIDATION_CONNECTION", "validation failed", err.detail);
        return { ok: false, error: shown, records };
      } finally {
        clearTimeout(timer);
        run.catch(() => undefined);
      }
    },
  };
}
