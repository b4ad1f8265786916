// @peculiar/x509 resolves its providers through tsyringe, which needs the Reflect polyfill loaded first.
import "reflect-metadata";
import { Pkcs10CertificateRequestGenerator, SubjectAlternativeNameExtension } from "@peculiar/x509";
import { createHash, createHmac, createPublicKey, generateKeyPairSync, sign as cryptoSign, type JsonWebKey, type KeyObject } from "node:crypto";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

/**
 * A small RFC 8555 client for tests and benchmarks. Every knob that a conforming client would
 * never turn (nonce, url, kid/jwk, alg, key, signature) can be overridden, so tests can send
 * hostile requests on purpose.
 */
export type JwsAlg = "ES256" | "ES384" | "ES512" | "RS256" | "EdDSA";
export type Identifier = { type: "dns" | "ip" | "permanent-identifier" | "hardware-module"; value: string };
export type ChallengeType = "http-01" | "dns-01" | "tls-alpn-01";

export interface AcmeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Parsed when the answer is JSON or problem+json (left undefined when it does not parse). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json?: any;
  /** Location, resolved against the request URL. */
  location?: string;
  nonce?: string;
}

export interface SignOptions {
  nonce?: string;
  /** Overrides the protected `url`. */
  url?: string;
  /** null omits kid. */
  kid?: string | null;
  useJwk?: boolean;
  /** Overrides the protected `alg` (the signature still uses the key's own algorithm when they do not fit). */
  alg?: string;
  key?: KeyObject;
  extraProtected?: Record<string, unknown>;
  /** Replaces the computed signature (base64url). */
  signature?: string;
}

export interface Jws {
  protected: string;
  payload: string;
  signature: string;
}

export interface PollOptions {
  timeoutMs?: number;
  /** Wait between polls when the server sends no Retry-After (default 50 ms). */
  intervalMs?: number;
  /** Cap on any wait, Retry-After included (default 1000 ms): tests and benchmarks measure the server, not its advice. */
  maxWaitMs?: number;
}

export interface IssueOptions {
  challengeType?: ChallengeType;
  /** Makes the challenge answerable; for dns-01 the TXT value is `client.dns01Value(token)`. */
  publish?: (token: string, keyAuth: string, identifier: { type: string; value: string }) => Promise<void> | void;
  /** Called once the authorization has settled (valid or not). */
  unpublish?: (token: string, identifier: { type: string; value: string }) => Promise<void> | void;
  /**
   * Resolves when the server's validation request has been seen; polling starts only then
   * (RFC 8555 §7.5.1), or after `seenWaitMs` (default 2000) if it never comes.
   */
  seen?: (token: string) => Promise<void>;
  seenWaitMs?: number;
  /** Poll the challenge instead of the authorization (as acme4j does), so the authorization is fetched once. */
  pollChallenge?: boolean;
  /** Wraps every newOrder request and every fetch of an authorization (the bench gates them; see test/bench/phase-gate.ts). */
  around?: <T>(step: "newOrder" | "authorization", run: () => Promise<T>) => Promise<T>;
  profile?: string;
  /** The certificate key (a fresh P-256 key when absent). */
  csrKey?: KeyObject;
  /** Builds the CSR (default: @peculiar/x509, P-256 keys only). */
  csr?: (key: KeyObject, identifiers: Identifier[]) => Uint8Array | Promise<Uint8Array>;
  poll?: PollOptions;
}

export interface IssueResult {
  orderUrl: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  order: any;
  certPem: string;
  csrKey: KeyObject;
}

/** A failed ACME step with the server's answer (problem type and detail in the message). */
export class AcmeError extends Error {
  constructor(readonly step: string, readonly response: AcmeResponse) {
    const p = response.json as { type?: string; detail?: string } | undefined;
    const why = p?.type ? `${p.type} ${p.detail ?? ""}` : response.body.toString("utf8", 0, 200);
    super(`${step}: HTTP ${response.status} ${why}`.trim());
  }
}

/** A request the server never answered (within the client's timeoutMs). */
export class AcmeTimeout extends Error {}

const HASH: Record<JwsAlg, string | null> = { ES256: "sha256", ES384: "sha384", ES512: "sha512", RS256: "sha256", EdDSA: null };
const FAMILY: Record<JwsAlg, string> = { ES256: "ec", ES384: "ec", ES512: "ec", RS256: "rsa", EdDSA: "ed25519" };
const CURVE_ALG: Record<string, JwsAlg> = { prime256v1: "ES256", secp384r1: "ES384", secp521r1: "ES512" };
/** RFC 7638 §3.2: the required members, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, string[]> = { EC: ["crv", "kty", "x", "y"], RSA: ["e", "kty", "n"], OKP: ["crv", "kty", "x"] };

function isJwsAlg(alg: string): alg is JwsAlg {
  return Object.hasOwn(HASH, alg);
}

export function generateAccountKey(alg: JwsAlg): KeyObject {
  switch (alg) {
    case "ES256": return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    case "ES384": return generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey;
    case "ES512": return generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey;
    case "RS256": return generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    case "EdDSA": return generateKeyPairSync("ed25519").privateKey;
  }
}

/** The JWS algorithm a key signs with by nature. */
export function algForKey(key: KeyObject): JwsAlg {
  if (key.asymmetricKeyType === "rsa") return "RS256";
  if (key.asymmetricKeyType === "ed25519") return "EdDSA";
  const alg = key.asymmetricKeyType === "ec" ? CURVE_ALG[key.asymmetricKeyDetails?.namedCurve ?? ""] : undefined;
  if (!alg) throw new Error(`no JWS algorithm for a ${key.asymmetricKeyType} key`);
  return alg;
}

/** The public JWK with only the members RFC 7638 names. */
export function publicJwk(key: KeyObject): JsonWebKey {
  const j = createPublicKey(key).export({ format: "jwk" });
  const members = THUMBPRINT_MEMBERS[j.kty ?? ""];
  if (!members) throw new Error(`unsupported key type ${j.kty}`);
  return Object.fromEntries(members.map((m) => [m, j[m]]));
}

/** RFC 7638 thumbprint, base64url. */
export function thumbprint(jwk: JsonWebKey): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ""];
  if (!members) throw new Error(`no RFC 7638 members for kty ${jwk.kty}`);
  const json = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(",")}}`;
  return createHash("sha256").update(json).digest("base64url");
}

const b64json = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("base64url");

/**
 * Flattened JWS (RFC 7515 §7.2.2). The header's `alg` is written as given; the signature uses it
 * when it fits the key, else the key's own algorithm, so a hostile `alg` ("none", "HS256", "RS256"
 * on an EC key) changes only the header and a server that ignores `alg` would be caught.
 */
export function signJws(alg: string, key: KeyObject, protectedHeader: Record<string, unknown>, payload: unknown | ""): Jws {
  const p = b64json(protectedHeader);
  const body = payload === "" ? "" : b64json(payload);
  const input = Buffer.from(`${p}.${body}`, "ascii");
  const used = isJwsAlg(alg) && FAMILY[alg] === key.asymmetricKeyType ? alg : algForKey(key);
  const sig = cryptoSign(HASH[used], input, key.asymmetricKeyType === "ec" ? { key, dsaEncoding: "ieee-p1363" } : key);
  return { protected: p, payload: body, signature: sig.toString("base64url") };
}

/** Retry-After in ms (delta-seconds or HTTP-date), undefined when absent or unreadable. */
function retryAfterMs(r: AcmeResponse): number | undefined {
  const v = r.headers["retry-after"];
  if (typeof v !== "string") return undefined;
  const ms = /^\d+$/.test(v.trim()) ? Number(v) * 1000 : Date.parse(v) - Date.now();
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitAtMost(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** A P-256 PKCS#10 request naming every identifier in the SAN (CN = first DNS name). */
export async function x509Csr(key: KeyObject, identifiers: Identifier[]): Promise<Uint8Array> {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") throw new Error("the default CSR builder takes a P-256 key; pass o.csr for others");
  const algorithm = { name: "ECDSA", namedCurve: "P-256" };
  const keys = {
    privateKey: await crypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), algorithm, false, ["sign"]),
    publicKey: await crypto.subtle.importKey("spki", createPublicKey(key).export({ type: "spki", format: "der" }), algorithm, true, ["verify"]),
  };
  const cn = identifiers.find((i) => i.type === "dns" && i.value.length <= 64);
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: cn ? `CN=${cn.value}` : undefined,
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [new SubjectAlternativeNameExtension(identifiers.flatMap((i) => (i.type === "dns" || i.type === "ip" ? [{ type: i.type, value: i.value }] : [])))],
  }, crypto);
  return new Uint8Array(csr.rawData);
}

export class AcmeClient {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  directory: Record<string, any> = {};
  accountUrl?: string;
  readonly jwk: JsonWebKey;
  /** Replay-Nonces seen in answers, newest last; a few are enough. */
  private nonces: string[] = [];

  private constructor(
    readonly directoryUrl: string,
    readonly key: KeyObject,
    readonly alg: JwsAlg,
    private readonly agents: { http: HttpAgent; https: HttpsAgent },
    private readonly timeoutMs: number,
  ) {
    this.jwk = publicJwk(key);
  }

  /** Fetches the directory; fails with the HTTP status when it is not a 200 JSON document. */
  static async create(o: { directoryUrl: string; caPem?: string; alg?: JwsAlg; key?: KeyObject; maxSockets?: number; timeoutMs?: number }): Promise<AcmeClient> {
    const key = o.key ?? generateAccountKey(o.alg ?? "ES256");
    const maxSockets = o.maxSockets ?? 8;
    const agents = { http: new HttpAgent({ keepAlive: true, maxSockets }), https: new HttpsAgent({ keepAlive: true, maxSockets, ca: o.caPem }) };
    const c = new AcmeClient(o.directoryUrl, key, o.alg ?? algForKey(key), agents, o.timeoutMs ?? 30_000);
    const d = await c.get(o.directoryUrl).catch((e: Error) => {
      c.close();
      throw new Error(`ACME directory ${o.directoryUrl}: ${e.message}`);
    });
    if (d.status !== 200 || typeof d.json?.newNonce !== "string") {
      c.close();
      throw new AcmeError(`ACME directory ${o.directoryUrl}`, d);
    }
    c.directory = d.json;
    return c;
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  thumbprint(): string {
    return thumbprint(this.jwk);
  }
  keyAuthorization(token: string): string {
    return `${token}.${this.thumbprint()}`;
  }
  dns01Value(token: string): string {
    return createHash("sha256").update(this.keyAuthorization(token)).digest("base64url");
  }

  /** One HTTP exchange; its Replay-Nonce is kept for the next signed request. */
  async request(method: string, url: string, body?: string | Buffer, contentType?: string): Promise<AcmeResponse> {
    const res = await this.send(method, url, body, contentType);
    if (res.nonce) {
      this.nonces.push(res.nonce);
      if (this.nonces.length > 16) this.nonces.shift();
    }
    return res;
  }

  private send(method: string, url: string, body?: string | Buffer, contentType?: string): Promise<AcmeResponse> {
    const u = new URL(url);
    const tls = u.protocol === "https:";
    const headers: Record<string, string | number> = { "user-agent": "enrollment-gateway-test-client" };
    if (body !== undefined) Object.assign(headers, { "content-type": contentType ?? "application/jose+json", "content-length": Buffer.byteLength(body) });
    return new Promise((resolve, reject) => {
      const req = (tls ? httpsRequest : httpRequest)(u, { method, headers, agent: tls ? this.agents.https : this.agents.http }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const buf = Buffer.concat(chunks);
          let json: unknown;
          if (/json/i.test(String(res.headers["content-type"] ?? "")) && buf.length) {
            try {
              json = JSON.parse(buf.toString("utf8"));
            } catch {
              // left undefined: hostile tests look at the raw body
            }
          }
          const nonce = res.headers["replay-nonce"];
          resolve({
            status: res.statusCode ?? 0, headers: res.headers, body: buf, json,
            location: res.headers.location ? new URL(res.headers.location, url).href : undefined,
            nonce: typeof nonce === "string" ? nonce : undefined,
          });
        });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new AcmeTimeout(`${method} ${url}: no answer in ${this.timeoutMs} ms`)));
      req.on("error", reject);
      req.end(body);
    });
  }

  get(url: string): Promise<AcmeResponse> {
    return this.request("GET", url);
  }

  /** A fresh nonce from HEAD newNonce, handed to the caller only (not pooled). */
  async newNonce(): Promise<string> {
    const r = await this.send("HEAD", this.directory.newNonce);
    if (!r.nonce) throw new AcmeError("newNonce (no Replay-Nonce)", r);
    return r.nonce;
  }

  async jws(url: string, payload: unknown | "", o: SignOptions = {}): Promise<Jws> {
    const key = o.key ?? this.key;
    const header: Record<string, unknown> = { alg: o.alg ?? this.alg, nonce: o.nonce ?? this.nonces.pop() ?? (await this.newNonce()), url: o.url ?? url, ...o.extraProtected };
    const useJwk = o.useJwk ?? !this.accountUrl;
    if (useJwk) header.jwk = publicJwk(key);
    const kid = o.kid === undefined ? (useJwk ? undefined : this.accountUrl) : o.kid;
    if (kid !== null && kid !== undefined) header.kid = kid;
    const jws = signJws(String(header.alg), key, header, payload);
    return o.signature === undefined ? jws : { ...jws, signature: o.signature };
  }

  /** Signed POST; a badNonce answer is retried once with the nonce it carried, unless the caller chose the nonce. */
  async post(url: string, payload: unknown | "", o: SignOptions = {}): Promise<AcmeResponse> {
    const res = await this.postRaw(url, JSON.stringify(await this.jws(url, payload, o)));
    if (res.status === 400 && res.json?.type === "urn:ietf:params:acme:error:badNonce" && o.nonce === undefined) {
      return this.postRaw(url, JSON.stringify(await this.jws(url, payload, o)));
    }
    return res;
  }

  postRaw(url: string, body: string | Buffer, contentType?: string): Promise<AcmeResponse> {
    return this.request("POST", url, body, contentType);
  }

  /** Sets accountUrl on 200/201. */
  async newAccount(o: { contact?: string[]; termsOfServiceAgreed?: boolean; onlyReturnExisting?: boolean; eab?: { kid: string; hmacKey: Buffer; alg?: "HS256" | "HS384" | "HS512" } } = {}): Promise<AcmeResponse> {
    const payload: Record<string, unknown> = {};
    if (o.contact) payload.contact = o.contact;
    if (o.termsOfServiceAgreed !== undefined) payload.termsOfServiceAgreed = o.termsOfServiceAgreed;
    if (o.onlyReturnExisting) payload.onlyReturnExisting = true;
    if (o.eab) {
      // RFC 8555 §7.3.4: the account key, MACed with the EAB key, url = newAccount.
      const alg = o.eab.alg ?? "HS256";
      const p = b64json({ alg, kid: o.eab.kid, url: this.directory.newAccount });
      const body = b64json(this.jwk);
      const sig = createHmac(`sha${alg.slice(2)}`, o.eab.hmacKey).update(`${p}.${body}`).digest("base64url");
      payload.externalAccountBinding = { protected: p, payload: body, signature: sig };
    }
    const res = await this.post(this.directory.newAccount, payload, { useJwk: true, kid: null });
    if ((res.status === 200 || res.status === 201) && res.location) this.accountUrl = res.location;
    return res;
  }

  /** keyChange (§7.3.5) with knobs for hostile inner requests. */
  keyChange(newKey: KeyObject, newAlg: JwsAlg, o: { innerUrl?: string; oldJwk?: JsonWebKey } = {}): Promise<AcmeResponse> {
    const url = this.directory.keyChange;
    const inner = signJws(newAlg, newKey, { alg: newAlg, jwk: publicJwk(newKey), url: o.innerUrl ?? url }, { account: this.accountUrl, oldKey: o.oldJwk ?? this.jwk });
    return this.post(url, inner);
  }

  newOrder(identifiers: Identifier[], o: { notBefore?: string; notAfter?: string; profile?: string; replaces?: string } = {}): Promise<AcmeResponse> {
    return this.post(this.directory.newOrder, { identifiers, ...o });
  }

  /** POST-as-GET until `done`, honouring Retry-After up to o.maxWaitMs; any non-200 answer throws. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  poll(url: string, done: (json: any) => boolean, o: PollOptions = {}): Promise<any> {
    return this.pollWith(url, () => this.post(url, ""), done, o);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async pollWith(url: string, fetch: () => Promise<AcmeResponse>, done: (json: any) => boolean, o: PollOptions): Promise<any> {
    const timeoutMs = o.timeoutMs ?? 20_000;
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await fetch();
      if (r.status !== 200 || r.json === undefined) throw new AcmeError(`poll ${url}`, r);
      if (done(r.json)) return r.json;
      if (Date.now() >= until) throw new Error(`poll ${url}: still ${r.json.status} after ${timeoutMs} ms`);
      await sleep(Math.min(retryAfterMs(r) ?? o.intervalMs ?? 50, o.maxWaitMs ?? 1000));
    }
  }

  finalize(finalizeUrl: string, csrDer: Uint8Array): Promise<AcmeResponse> {
    return this.post(finalizeUrl, { csr: Buffer.from(csrDer).toString("base64url") });
  }

  /** The PEM chain; anything but a 200 PEM answer throws. */
  async downloadCertificate(url: string): Promise<string> {
    const r = await this.post(url, "");
    const pem = r.body.toString("utf8");
    if (r.status !== 200 || !pem.startsWith("-----BEGIN CERTIFICATE-----")) throw new AcmeError(`download ${url}`, r);
    return pem;
  }

  /** newOrder → every authorization → finalize → poll → download. */
  async issue(identifiers: Identifier[], o: IssueOptions = {}): Promise<IssueResult> {
    const step = o.around ?? ((_, run) => run());
    const created = await step("newOrder", () => this.newOrder(identifiers, o.profile ? { profile: o.profile } : {}));
    if (created.status !== 201 || !created.location) throw new AcmeError("newOrder", created);
    const orderUrl = created.location;
    for (const authzUrl of created.json.authorizations as string[]) await this.authorize(authzUrl, o);
    const csrKey = o.csrKey ?? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const csr = await (o.csr ?? x509Csr)(csrKey, identifiers);
    let fin = await this.finalize(created.json.finalize, csr);
    if (fin.status === 403 && fin.json?.type === "urn:ietf:params:acme:error:orderNotReady") {
      // A server may settle the order a moment after its last authorization.
      await this.poll(orderUrl, (x) => x.status !== "pending", o.poll);
      fin = await this.finalize(created.json.finalize, csr);
    }
    if (fin.status !== 200) throw new AcmeError("finalize", fin);
    const order = fin.json.status === "processing" ? await this.poll(orderUrl, (x) => x.status !== "processing", o.poll) : fin.json;
    if (order.status !== "valid" || typeof order.certificate !== "string") throw new Error(`order ${orderUrl} is ${order.status}: ${JSON.stringify(order.error ?? order)}`);
    return { orderUrl, order, certPem: await this.downloadCertificate(order.certificate), csrKey };
  }

  /** Answers one authorization with o.challengeType unless it is already valid (reused). */
  private async authorize(authzUrl: string, o: IssueOptions): Promise<void> {
    const type = o.challengeType ?? "http-01";
    const step = o.around ?? ((_, run) => run());
    const fetchAuthz = () => step("authorization", () => this.post(authzUrl, ""));
    const r = await fetchAuthz();
    if (r.status !== 200) throw new AcmeError(`authorization ${authzUrl}`, r);
    const authz = r.json as { status: string; identifier: { type: string; value: string }; challenges: Array<{ type: string; url: string; token: string; status: string; error?: unknown }> };
    if (authz.status === "valid") return;
    if (authz.status !== "pending") throw new Error(`authorization for ${authz.identifier.value} is ${authz.status}`);
    const ch = authz.challenges.find((c) => c.type === type);
    if (!ch) throw new Error(`authorization for ${authz.identifier.value} offers no ${type} (${authz.challenges.map((c) => c.type).join(", ")})`);
    await o.publish?.(ch.token, this.keyAuthorization(ch.token), authz.identifier);
    try {
      if (ch.status === "pending") {
        const answered = await this.post(ch.url, {});
        if (answered.status !== 200) throw new AcmeError(`challenge ${type} for ${authz.identifier.value}`, answered);
      }
      if (o.seen) await waitAtMost(o.seen(ch.token), o.seenWaitMs ?? 2000);
      // Either resource settles when validation ends: a challenge is valid exactly when it made its authorization valid.
      const done = o.pollChallenge
        ? await this.poll(ch.url, (c) => c.status !== "pending" && c.status !== "processing", o.poll)
        : await this.pollWith(authzUrl, fetchAuthz, (a) => a.status !== "pending", o.poll ?? {});
      if (done.status !== "valid") {
        const error = o.pollChallenge ? done.error : (done.challenges as Array<{ type: string; error?: unknown }>).find((c) => c.type === type)?.error;
        throw new Error(`${o.pollChallenge ? "challenge" : "authorization"} for ${authz.identifier.value} is ${done.status}: ${JSON.stringify(error ?? done)}`);
      }
    } finally {
      await o.unpublish?.(ch.token, authz.identifier);
    }
  }
}
