import pino, { type Logger } from "pino";

/**
 * JSON logs to stdout; fields that could carry secrets are redacted wherever they appear (one level down, as
 * pino's wildcards go). Access lines never carry headers or the query string in the first place (middleware.ts).
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "enrollment-gateway" },
    redact: {
      paths: [
        "*.password", "*.secret", "*.token", "*.pin", "*.privateKey", "*.authorization", "*.cookie", "*.challenge", "*.challengePassword",
        "*.hmacKey", "*.hmacSecret", "*.bearerToken", "req.headers.authorization", "req.headers.cookie",
      ],
      censor: "[redacted]",
    },
  });
}
