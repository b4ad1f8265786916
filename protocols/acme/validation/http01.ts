import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { GatewayError } from "../../../src/errors.js";
import type { AcmeValidationConfig } from "../config.js";
import type { AddressGuard } from "./address-guard.js";
import type { ValidationInput, ValidationRecord } from "./types.js";

interface Fetched {
  status: number;
  location?: string;
  body: string;
}

/** One GET to an already-vetted address, Host set to the name, body capped. Certificates are not checked (RFC 8555 §8.3). */
function fetchOnce(url: URL, address: string, cfg: AcmeValidationConfig, signal: AbortSignal): Promise<Fetched> {
  const fn = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = fn({
      host: address, port: url.port || (url.protocol === "https:" ? 443 : 80), path: url.pathname + url.search, method: "GET", signal,
      headers: { Host: url.host, "User-Agent": "enrollment-gateway-acme-validator", Accept: "*/*", Connection: "close" },
      servername: url.hostname.replace(/^\[|\]$/g, ""), rejectUnauthorized: false, agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > cfg.maxResponseBytes) {
          req.destroy();
          reject(new GatewayError("RA_ERR_VALIDATION_INCORRECT", `the response is larger than ${cfg.maxResponseBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", (e) => reject(e instanceof GatewayError ? e : new GatewayError("RA_ERR_VALIDATION_CONNECTION", `fetching ${url.href}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    req.end();
  });
}

/** http-01: the key authorization at /.well-known/acme-challenge/<token>, following redirects to port 80/443-style targets. */
export async function validateHttp01(input: ValidationInput, cfg: AcmeValidationConfig, guard: AddressGuard, signal: AbortSignal, records: ValidationRecord[]): Promise<void> {
  const host = input.identifier.type === "ip" && input.identifier.value.includes(":") ? `[${input.identifier.value}]` : input.identifier.value;
  let url = new URL(`http://${host}:${cfg.httpPort}/.well-known/acme-challenge/${input.token}`);
  for (let hop = 0; ; hop++) {
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    const { resolved, usable } = await guard.resolve(hostname);
    const rec: ValidationRecord = { url: url.href, hostname, port: Number(url.port || (url.protocol === "https:" ? 443 : 80)), addressesResolved: resolved, addressUsed: usable[0] };
    records.push(rec);
    const res = await fetchOnce(url, usable[0], cfg, signal);
    if ([301, 302, 303, 307, 308].includes(res.status) && res.location) {
      if (hop >= cfg.maxRedirects) throw new GatewayError("RA_ERR_VALIDATION_CONNECTION", `more than ${cfg.maxRedirects} redirects`);
      const next = new URL(res.location, url);
      const port = Number(next.port || (next.protocol === "https:" ? 443 : 80));
      const okPort = next.protocol === "http:" ? port === cfg.httpPort || port === 80 : port === 443 || port === cfg.tlsAlpnPort;
      if (!["http:", "https:"].includes(next.protocol) || !okPort) throw new GatewayError("RA_ERR_VALIDATION_CONNECTION", `redirect to ${next.href} is not to an HTTP(S) validation port`);
      url = next;
      continue;
    }
    if (res.status !== 200) throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", `${url.href} answered HTTP ${res.status}`);
    if (res.body.replace(/\s+$/, "") !== input.keyAuthorization) throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", `${url.href} did not answer the key authorization`);
    return;
  }
}
