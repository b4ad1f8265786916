import "reflect-metadata";
import { createHash, createPublicKey, generateKeyPairSync, sign as cryptoSign, createHmac, type KeyObject } from "node:crypto";
import { Agent, request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";

/** A small RFC 8555 client for tests and benchmarks, able to send hostile requests on purpose. */
export type JwsAlg = "ES256" | "ES384" | "ES512" | "RS256" | "EdDSA";

export interface AcmeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json?: any;
  location?: string;
  nonce?: string;
}

export interface SignOptions {
  nonce?: string;
  url?: string;
  /** null omits kid. */
  kid?: string | null;
  useJwk?: boolean;
  alg?: string;
  key?: KeyObject;
  extraProtected?: Record<string, unknown>;
}

export interface Jws {
  protected: string;
  payload: string;
  signature: string;
}

const HASH: Record<string, string | null> = { ES256: "sha256", ES384: "sha384", ES512: "sha512", RS256: "sha256", EdDSA: null };

function keyFor(alg: JwsAlg): KeyObject {
  switch (alg) {
    case "ES256": return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    case "ES384": return generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey;
    case "ES512": return generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey;
    case "RS256": return generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    default: return generateKeyPairSync("ed25519").privateKey;
  }
}

/** The public JWK with only the members RFC 7638 names. */
export function publicJwk(key: KeyObject): Record<string, string> {
  const j = createPublicKey(key).export({ format: "jwk" }) as Record<string, string>;
  if (j.kty === "EC") return { crv: j.crv, kty: j.kty, x: j.x, y: j.y };
  if (j.kty === "RSA") return { e: j.e, kty: j.kty, n: j.n };
  return { crv: j.crv, kty: j.kty, x: j.x };
}

export function thumbprint(jwk: Record<string, string>): string {
  const body = Object.keys(jwk).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(jwk[k])}`).join(",");
  return createHash("sha256").update(`{${body}}`).digest("base64url");
}

export function signJws(alg: string, key: KeyObject, protectedHeader: Record<string, unknown>, payload: unknown | ""): Jws {
  const p = Buffer.from(JSON.stringify(protectedHeader)).toString("base64url");
  const body = payload === "" ? "" : Buffer.from(JSON.stringify(payload)).toString("base64url");
  const input = Buffer.from(`${p}.${body}`);
  const hash = HASH[alg];
  let sig: Buffer;
  if (hash === undefined) sig = createHmac("sha256", Buffer.alloc(32)).update(input).digest(); // hostile tests: none/HS*
  else sig = cryptoSign(hash, input, key.asymmetricKeyType === "ec" ? { key, dsaEncoding: "ieee-p1363" } : key);
  return { protected: p, payload: body, signature: sig.toString("base64url") };
}

export class AcmeClient {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  directory: Record<string, any> = {};
  accountUrl?: string;
  jwk: Record<string, string>;
  private nonces: string[] = [];

  private constructor(readonly directoryUrl: string, private readonly agent: Agent | undefined, readonly key: KeyObject, readonly alg: JwsAlg) {
    this.jwk = publicJwk(key);
  }

  static async create(o: { directoryUrl: string; caPem?: string; alg?: JwsAlg; key?: KeyObject }): Promise<AcmeClient> {
    const alg = o.alg ?? "ES256";
    const agent = o.directoryUrl.startsWith("https:") ? new Agent({ keepAlive: true, ca: o.caPem, maxSockets: 8 }) : undefined;
    const c = new AcmeClient(o.directoryUrl, agent, o.key ?? keyFor(alg), alg);
    const d = await c.get(o.directoryUrl);
    if (d.status !== 200) throw new Error(`directory ${o.directoryUrl}: HTTP ${d.status}`);
    c.directory = d.json;
    return c;
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

  request(method: string, url: string, body?: string | Buffer, contentType?: string): Promise<AcmeResponse> {
    const u = new URL(url);
    const fn = u.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = fn(u, { method, agent: this.agent, headers: body !== undefined ? { "content-type": contentType ?? "application/jose+json", "content-length": Buffer.byteLength(body) } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const buf = Buffer.concat(chunks);
          const ct = String(res.headers["content-type"] ?? "");
          const nonce = res.headers["replay-nonce"] as string | undefined;
          if (nonce) this.nonces.push(nonce);
          resolve({
            status: res.statusCode ?? 0, headers: res.headers, body: buf, json: ct.includes("json") && buf.length ? JSON.parse(buf.toString()) : undefined,
            location: res.headers.location, nonce,
          });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  get(url: string): Promise<AcmeResponse> {
    return this.request("GET", url);
  }

  async newNonce(): Promise<string> {
    const r = await this.request("HEAD", this.directory.newNonce);
    this.nonces = this.nonces.filter((n) => n !== r.nonce);
    if (!r.nonce) throw new Error("no Replay-Nonce");
    return r.nonce;
  }

  private async takeNonce(): Promise<string> {
    return this.nonces.shift() ?? this.newNonce();
  }

  async jws(url: string, payload: unknown | "", o: SignOptions = {}): Promise<Jws> {
    const key = o.key ?? this.key;
    const header: Record<string, unknown> = { alg: o.alg ?? this.alg, nonce: o.nonce ?? (await this.takeNonce()), url: o.url ?? url, ...o.extraProtected };
    const useJwk = o.useJwk ?? !this.accountUrl;
    if (useJwk) header.jwk = publicJwk(key);
    const kid = o.kid === undefined ? (useJwk ? undefined : this.accountUrl) : o.kid;
    if (kid !== null && kid !== undefined) header.kid = kid;
    return signJws(String(header.alg), key, header, payload);
  }

  async post(url: string, payload: unknown | "", o: SignOptions = {}): Promise<AcmeResponse> {
    const res = await this.postRaw(url, JSON.stringify(await this.jws(url, payload, o)));
    if (res.status === 400 && res.json?.type === "urn:ietf:params:acme:error:badNonce" && !o.nonce) {
      return this.postRaw(url, JSON.stringify(await this.jws(url, payload, o)));
    }
    return res;
  }

  postRaw(url: string, body: string | Buffer, contentType?: string): Promise<AcmeResponse> {
    return this.request("POST", url, body, contentType);
  }

  async newAccount(o: { contact?: string[]; termsOfServiceAgreed?: boolean; onlyReturnExisting?: boolean; eab?: { kid: string; hmacKey: Buffer; alg?: "HS256" | "HS384" | "HS512" } } = {}): Promise<AcmeResponse> {
    const payload: Record<string, unknown> = {};
    if (o.contact) payload.contact = o.contact;
    if (o.termsOfServiceAgreed !== undefined) payload.termsOfServiceAgreed = o.termsOfServiceAgreed;
    if (o.onlyReturnExisting) payload.onlyReturnExisting = true;
    if (o.eab) {
      const alg = o.eab.alg ?? "HS256";
      const p = Buffer.from(JSON.stringify({ alg, kid: o.eab.kid, url: this.directory.newAccount })).toString("base64url");
      const body = Buffer.from(JSON.stringify(this.jwk)).toString("base64url");
      const sig = createHmac(`sha${alg.slice(2)}`, o.eab.hmacKey).update(`${p}.${body}`).digest("base64url");
      payload.externalAccountBinding = { protected: p, payload: body, signature: sig };
    }
    const res = await this.post(this.directory.newAccount, payload, { useJwk: true, kid: null });
    if ((res.status === 200 || res.status === 201) && res.location) this.accountUrl = res.location;
    return res;
  }

  /** keyChange (§7.3.5) with knobs for hostile inner requests. */
  async keyChange(newKey: KeyObject, newAlg: JwsAlg, o: { innerUrl?: string; oldJwk?: Record<string, string> } = {}): Promise<AcmeResponse> {
    const url = this.directory.keyChange;
    const inner = signJws(newAlg, newKey, { alg: newAlg, jwk: publicJwk(newKey), url: o.innerUrl ?? url }, { account: this.accountUrl, oldKey: o.oldJwk ?? this.jwk });
    return this.post(url, inner);
  }

  newOrder(identifiers: Array<{ type: "dns" | "ip"; value: string }>, o: { notBefore?: string; notAfter?: string; profile?: string; replaces?: string } = {}): Promise<AcmeResponse> {
    return this.post(this.directory.newOrder, { identifiers, ...o });
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async poll(url: string, done: (json: any) => boolean, o: { timeoutMs?: number; intervalMs?: number } = {}): Promise<any> {
    const until = Date.now() + (o.timeoutMs ?? 20_000);
    for (;;) {
      const r = await this.post(url, "");
      if (done(r.json)) return r.json;
      if (Date.now() > until) throw new Error(`poll ${url}: still ${r.json?.status}`);
      const after = Math.min(Number(r.headers["retry-after"] ?? 0) * 1000 || (o.intervalMs ?? 50), 1000);
      await new Promise((res) => setTimeout(res, Math.min(after, o.intervalMs ?? after)));
    }
  }

  finalize(finalizeUrl: string, csrDer: Uint8Array): Promise<AcmeResponse> {
    return this.post(finalizeUrl, { csr: Buffer.from(csrDer).toString("base64url") });
  }

  async downloadCertificate(url: string): Promise<string> {
    const r = await this.post(url, "");
    if (r.status !== 200) throw new Error(`download: ${r.status} ${r.body.toString()}`);
    return r.body.toString();
  }
}
