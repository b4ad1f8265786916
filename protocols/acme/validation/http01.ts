import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { GatewayError } from "../../../src/errors.js";
import type { AcmeValidationConfig } from "../config.js";
import { connectCandidates } from "./address-guard.js";
import type { ValidationContext } from "./context.js";
import type { ValidationInput, ValidationRecord } from "./types.js";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_LOCATION = 2048;

type Answer = { kind: "redirect"; location: string } | { kind: "status"; status: number } | { kind: "body"; body: string };

/** Marks failures that happened before any byte of answer, so another address may be tried. */
class ConnectFailure extends GatewayError {}

const unbracket = (host: string) => host.replace(/^\[(.*)\]$/, "$1");
const portOf = (url: URL) => Number(url.port || (url.protocol === "https:" ? 443 : 80));

/**
 * One GET to an already-vetted address. Host carries the name (and the port when it is not the
 * scheme's default, as HTTP requires); no pooling; https certificates are not checked (RFC 8555 §8.3).
 */
function fetchOnce(url: URL, address: string, cfg: AcmeValidationConfig, signal: AbortSignal): Promise<Answer> {
  const https = url.protocol === "https:";
  const hostname = unbracket(url.hostname);
  let req: ClientRequest | undefined;
  let responded = false;
  return new Promise<Answer>((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
      responded = true;
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status) && res.headers.location) return resolve({ kind: "redirect", location: res.headers.location });
      if (status !== 200) return resolve({ kind: "status", status });
      const tooBig = () => new GatewayError("RA_ERR_VALIDATION_INCORRECT", `the response to ${url.href} is larger than ${cfg.maxResponseBytes} bytes`);
      if (Number(res.headers["content-length"] ?? 0) > cfg.maxResponseBytes) return reject(tooBig());
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= cfg.maxResponseBytes) return void chunks.push(c);
        reject(tooBig());
        req?.destroy();
      });
      res.on("end", () => resolve({ kind: "body", body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (e: NodeJS.ErrnoException) => reject(new GatewayError("RA_ERR_VALIDATION_CONNECTION", `reading ${url.href} from ${address}: ${e.code ?? e.message}`)));
    };
    req = (https ? httpsRequest : httpRequest)({
      host: address, port: portOf(url), path: url.pathname + url.search, method: "GET", signal, agent: false, maxHeaderSize: 16 * 1024,
      headers: { Host: url.host, "User-Agent": "enrollment-gateway-acme-validator", Accept: "*/*", Connection: "close" },
      ...(https ? { rejectUnauthorized: false, ...(isIP(hostname) ? {} : { servername: hostname }) } : {}),
    }, onResponse);
    req.on("error", (e: NodeJS.ErrnoException) => {
      const msg = `fetching ${url.href} from ${address}: ${e.code ?? e.message}`;
      reject(e instanceof GatewayError ? e : new (responded ? GatewayError : ConnectFailure)("RA_ERR_VALIDATION_CONNECTION", msg));
    });
    req.end();
  }).finally(() => req?.destroy()); // Connection: close already; this also covers early exits
}

/** RFC 8555 §8.3: follow http on the validation port or https on 443 (or tlsAlpnPort, for labs on other ports). */
function redirectTarget(location: string, from: URL, cfg: AcmeValidationConfig): URL {
  let next: URL;
  try {
    if (location.length > MAX_LOCATION) throw new Error("too long");
    next = new URL(location, from);
  } catch {
    throw new GatewayError("RA_ERR_VALIDATION_CONNECTION", `${from.href} redirected to an invalid location`);
  }
  const port = portOf(next);
  const ok = next.protocol === "http:" ? port === cfg.httpPort : next.protocol === "https:" && (port === 443 || port === cfg.tlsAlpnPort);
  if (!ok) throw new GatewayError("RA_ERR_VALIDATION_CONNECTION", `${from.href} redirected to ${next.protocol}//${next.host}, which is not an http-01 validation port`);
  next.hash = "";
  next.username = "";
  next.password = "";
  return next;
}

/** http-01: GET /.well-known/acme-challenge/<token> must answer the key authorization (trailing whitespace ignored). */
export async function validateHttp01(input: ValidationInput, ctx: ValidationContext): Promise<void> {
  const { cfg, guard, resolver, signal, records } = ctx;
  const id = input.identifier.value;
  const host = input.identifier.type === "ip" && id.includes(":") ? `[${id}]` : id;
  let url = new URL(`http://${host}:${cfg.httpPort}/.well-known/acme-challenge/${encodeURIComponent(input.token)}`);
  for (let hop = 0; ; hop++) {
    const hostname = unbracket(url.hostname);
    const record: ValidationRecord = { url: url.href, hostname, port: portOf(url) };
    records.push(record);
    const { resolved, allowed } = await guard.resolve(hostname, resolver);
    record.addressesResolved = resolved;
    const answer = await fetchFirst(url, connectCandidates(allowed), cfg, signal, record);
    if (answer.kind === "redirect") {
      if (hop >= cfg.maxRedirects) throw new GatewayError("RA_ERR_VALIDATION_CONNECTION", `more than ${cfg.maxRedirects} redirects, last from ${url.href}`);
      url = redirectTarget(answer.location, url, cfg);
      continue;
    }
    if (answer.kind === "status") throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", `${url.href} answered HTTP ${answer.status}`);
    // trimEnd, not a /\s+$/ regex: that backtracks quadratically on a body of spaces.
    if (answer.body.trimEnd() !== input.keyAuthorization) throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", `${url.href} did not answer the key authorization`);
    return;
  }
}

/** Tries each candidate address in turn, moving on only when a connection could not be made. */
async function fetchFirst(url: URL, candidates: string[], cfg: AcmeValidationConfig, signal: AbortSignal, record: ValidationRecord): Promise<Answer> {
  for (let i = 0; ; i++) {
    record.addressUsed = candidates[i];
    try {
      return await fetchOnce(url, candidates[i], cfg, signal);
    } catch (e) {
      if (!(e instanceof ConnectFailure) || i + 1 >= candidates.length || signal.aborted) throw e;
    }
  }
}
