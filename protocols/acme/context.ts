import { randomFillSync } from "node:crypto";
import type { RequestListener } from "node:http";
import type { Gateway } from "../../src/gateway.js";
import type { AcmeStore } from "../../src/store/acme-types.js";
import type { AcmeConfig, AcmeEndpointConfig } from "./config.js";
import { DeviceAttestationVerifier } from "./attest/verify.js";
import { EabKeys } from "./eab.js";
import { NonceMint } from "./nonce.js";
import { RateLimiter } from "./rate-limit.js";
import type { ChallengeValidator } from "./validation/types.js";
import { requestCounter, startRequest } from "../../src/server/middleware.js";
import type { AcmeHandler } from "./router.js";

/** Everything the ACME handlers share: the gateway core, the ACME tables, validators and limits. */
export class AcmeContext {
  readonly store: AcmeStore;
  readonly eab: EabKeys;
  readonly accountLimit?: RateLimiter;
  readonly addressLimit?: RateLimiter;
  readonly attestation: DeviceAttestationVerifier;
  /** Validations running in this process, so shutdown and tests can wait for them. */
  readonly inflight = new Set<Promise<void>>();
  private readonly nonces: NonceMint;

  constructor(readonly gw: Gateway, readonly cfg: AcmeConfig, readonly validator: ChallengeValidator) {
    this.store = gw.store.acme;
    this.eab = new EabKeys(this.store, gw.profiles, gw.audit);
    this.attestation = new DeviceAttestationVerifier(gw.profiles.all(), gw.store);
    const rl = cfg.rateLimits;
    if (rl.perAccount) this.accountLimit = new RateLimiter(rl.perAccount.perSecond, rl.perAccount.burst);
    if (rl.perAddress) this.addressLimit = new RateLimiter(rl.perAddress.perSecond, rl.perAddress.burst);
    this.nonces = new NonceMint(this.store, cfg.nonceLifetimeSeconds * 1000, randomFill);
  }

  /** A fresh nonce any instance on this database accepts once (nonce.ts): no write to issue it. */
  newNonce(): string {
    return this.nonces.issue();
  }

  /** True once for a live nonce issued by any instance; false for a used, expired, foreign or altered one. */
  redeemNonce(nonce: string): Promise<boolean> {
    return this.nonces.redeem(nonce);
  }

  /** Whether the shared nonce key is loaded; until it is, requests wait for `loadNonceKey()`. */
  get nonceReady(): boolean {
    return this.nonces.ready;
  }

  /** Reads the shared nonce key from the store (the first requests wait for it; retried after a failure). */
  loadNonceKey(): Promise<void> {
    return this.nonces.load();
  }

  /** Endpoints mounted by mountAcme, named ones before "default" (whose base path prefixes theirs). */
  readonly endpoints: Array<{ basePath: string; handle: AcmeHandler }> = [];

  /**
   * Wraps a listener's app: ACME requests are served here, on plain req/res, before the express app;
   * with the same request id, access line and metrics as everything else (startRequest; the router sends
   * X-Request-Id with its other headers in one writeHead array).
   */
  front(next: RequestListener, listener: "https" | "http" = "https"): RequestListener {
    const count = requestCounter(this.gw.metrics, listener);
    return (req, res) => {
      const url = req.url ?? "";
      const ep = url.startsWith("/acme") ? this.endpoints.find((e) => isUnder(url, e.basePath)) : undefined;
      if (!ep) {
        next(req, res);
        return;
      }
      const rc = startRequest(this.gw.log, listener, count, req, res, () => url.split("?")[0]);
      ep.handle(req, res, rc, url);
    };
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }
}

/** URL builder for one ACME endpoint; the base follows the gateway's external HTTPS URL. */
export class AcmeUrls {
  readonly basePath: string;
  constructor(private readonly gw: Gateway, readonly endpoint: AcmeEndpointConfig) {
    this.basePath = endpoint.name === "default" ? "/acme" : `/acme/${endpoint.name}`;
  }
  get base(): string {
    return this.gw.urls.https + this.basePath;
  }
  get directory(): string { return `${this.base}/directory`; }
  get newNonce(): string { return `${this.base}/new-nonce`; }
  get newAccount(): string { return `${this.base}/new-account`; }
  get newOrder(): string { return `${this.base}/new-order`; }
  get revokeCert(): string { return `${this.base}/revoke-cert`; }
  get keyChange(): string { return `${this.base}/key-change`; }
  get renewalInfo(): string { return `${this.base}/renewal-info`; }
  account(id: string): string { return `${this.base}/acct/${id}`; }
  orders(accountId: string): string { return `${this.base}/acct/${accountId}/orders`; }
  order(id: string): string { return `${this.base}/order/${id}`; }
  finalize(id: string): string { return `${this.base}/order/${id}/finalize`; }
  authz(id: string): string { return `${this.base}/authz/${id}`; }
  challenge(authzId: string, type: string): string { return `${this.base}/chall/${authzId}/${type}`; }
  certificate(serial: string, alternate?: number): string { return `${this.base}/cert/${serial}${alternate ? `/${alternate}` : ""}`; }
  /** The account id in a kid URL of this endpoint, or undefined. */
  accountIdFromKid(kid: string): string | undefined {
    const prefix = `${this.base}/acct/`;
    if (!kid.startsWith(prefix)) return undefined;
    const id = kid.slice(prefix.length);
    return /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : undefined;
  }
}

export function newId(): string {
  return randomToken(12);
}

/** `url` is `base` itself or a resource below it (the query aside). */
function isUnder(url: string, base: string): boolean {
  if (!url.startsWith(base)) return false;
  const c = url.charCodeAt(base.length);
  return Number.isNaN(c) || c === 0x2f /* / */ || c === 0x3f /* ? */;
}

// Nonces and ids come from one pooled CSPRNG buffer: one randomFill per 256 nonces instead of one per nonce.
const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;

/** `bytes` fresh random bytes as base64url; every byte is handed out once. */
export function randomToken(bytes: number): string {
  if (poolAt + bytes > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const s = POOL.toString("base64url", poolAt, poolAt + bytes);
  poolAt += bytes;
  return s;
}

/** Fills `target` with fresh random bytes from the same pool. */
export function randomFill(target: Buffer): void {
  if (poolAt + target.length > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  POOL.copy(target, 0, poolAt, poolAt + target.length);
  poolAt += target.length;
}
