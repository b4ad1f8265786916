import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
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
/** A pooled connection the peer had closed meanwhile: the same address is tried once more on a new one. */
class StaleConnection extends ConnectFailure {}

// Plain-http answers reuse connections per vetted address and port (the agent's key; Host is per request):
// a responder serving many names saves a TCP setup per validation. Idle sockets close after a few seconds.
const keepAlive = new Agent({ keepAlive: true, maxFreeSockets: 32, timeout: 5_000 });

const unbracket = (host: string) => host.replace(/^\[(.*)\]$/, "$1");
const portOf = (url: URL) => Number(url.port || (url.protocol === "https:" ? 443 : 80));

/**
 * One GET to an already-vetted address. Host carries the name (and the port when it is not the
 * scheme's default, as HTTP requires); plain http pools connections per address (`fresh` forbids a
 * pooled one); https certificates are not checked (RFC 8555 §8.3).
 */
function fetchOnce(url: URL, address: string, cfg: AcmeValidationConfig, signal: AbortSignal, fresh = false): Promise<Answer> {
  const https = url.protocol === "https:";
  const pooled = !https && !fresh;
  const hostname = unbracket(url.hostname);
  let req: ClientRequest | undefined;
  let responded = false;
  // Only a body read to its end leaves the connection fit for reuse; every other exit closes it.
  let consumed = false;
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
      res.on("end", () => {
        consumed = size <= cfg.maxResponseBytes;
        resolve({ kind: "body", body: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", (e: NodeJS.ErrnoException) => reject(new GatewayError("RA_ERR_VALIDATION_CONNECTION", `reading ${url.href} from ${address}: ${e.code ?? e.message}`)));
    };
    req = (https ? httpsRequest : httpRequest)({
      host: address, port: portOf(url), path: url.pathname + url.search, method: "GET", signal, agent: pooled ? keepAlive : false, maxHeaderSize: 16 * 1024,
      headers: { Host: url.host, "User-Agent": "enrollment-gateway-acme-validator", Accept: "*/*", ...(pooled ? {} : { Connection: "close" }) },
      ...(https ? { rejectUnauthorized: false, ...(isIP(hostname) ? {} : { servername: hostname }) } : {}),
    }, onResponse);
    req.on("error", (e: NodeJS.ErrnoException) => {
      const msg = `fetching ${url.href} from ${address}: ${e.code ?? e.message}`;
      const failure = responded ? GatewayError : req?.reusedSocket && !signal.aborted ? StaleConnection : ConnectFailure;
      reject(e instanceof GatewayError ? e : new failure("RA_ERR_VALIDATION_CONNECTION", msg));
    });
    req.end();
  }).finally(() => {
    if (!consumed) req?.destroy(); // early exits, redirects, refusals: that connection is not reused
  });
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
      let err = e;
      if (e instanceof StaleConnection) {
        try {
          return await fetchOnce(url, candidates[i], cfg, signal, true);
        } catch (again) {
          err = again;
        }
      }
      if (!(err instanceof ConnectFailure) || i + 1 >= candidates.length || signal.aborted) throw err;
    }
  }
}
