import { createHash, createHmac, createPublicKey, hash, randomBytes, sign, type KeyObject } from "node:crypto";
import { Agent, request } from "node:http";
import { AsnConvert, BitString } from "@peculiar/asn1-schema";
import { AttributeTypeAndValue, AttributeValue, GeneralName, Name, RelativeDistinguishedName, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import type { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { algorithmIdentifier } from "../../src/asn1/algorithms.js";
import { derSequence } from "../../src/asn1/der-encode.js";
import { CertConfirmContent, CertStatus } from "../../protocols/cmp/asn1/content.js";
import { CertReqMessages, CertReqMsg, CertRequest, CertTemplate, POPOSigningKey, ProofOfPossession } from "../../protocols/cmp/asn1/crmf.js";
import { encodeDer } from "../../protocols/cmp/asn1/der-encoder.js";
import { PKIBody, PKIHeader } from "../../protocols/cmp/asn1/message.js";
import { decodePkiMessage, encodePkiMessage, generalizedTimeDer, toDer, type DecodedMessage } from "../../protocols/cmp/codec.js";
import { macAlgorithmIdentifier, type DeriveKey, type MacPlan } from "../../protocols/cmp/mac.js";
import { verifyMac } from "../../protocols/cmp/protection.js";

/**
 * A CMP client as a device runs it, in process: `cr` with one CertReqMsg (template subject CN + the key,
 * signature POP over the DER CertRequest), PasswordBasedMac protection (owf SHA-256, HMAC-SHA256, 1000
 * iterations: the MAC OpenSSL 3.0 speaks, so the same client works against the gateway and `openssl cmp
 * -port`), then certConf with the certificate's SHA-256 hash, expecting pkiconf. One transaction = both.
 *
 * The client keeps one salt for its life and so derives its PBM key once (a device may; RFC 4211 §4.4 only
 * asks for a random salt): protecting a request is one HMAC. With `freshSalt` every message gets a new salt
 * (one derivation on each side per message). Answers are decoded and MAC-checked: the gateway mirrors the
 * request's parameters, salt included, so its answers reuse the client's key; OpenSSL's mock answers with
 * its own salt at 500 iterations (one derivation each).
 */
export interface CmpClientOptions {
  /** `http://127.0.0.1:<port>/<path>`. */
  url: string;
  /** senderKID (the gateway finds the secret by it). */
  kid: string;
  secret: Uint8Array;
  /** The one key every request enrolls (P-256), reused: key generation is not what is measured. */
  key: KeyObject;
  agent: Agent;
  iterations?: number;
  timeoutMs?: number;
  /**
   * Ask for the connection to be closed with the certConf (a new connection per transaction, as `openssl cmp`
   * itself does). OpenSSL's mock server needs it: it keeps a connection open only while a transaction is, and
   * closes it after pkiconf although that answer says `Connection: keep-alive`; a reused socket then hangs up.
   */
  closeAfterTransaction?: boolean;
  /** A new PBM salt for every message, as `openssl cmp` does (the server derives a key per message). */
  freshSalt?: boolean;
  /** Hands each message to this instead of POSTing it (an in-process server); `agent` and `url` are then unused. */
  send?: (der: Uint8Array) => Promise<Answer>;
}

export type Transaction = { ok: true; cert: Uint8Array; ms: number } | { ok: false; error: string };

/** Loose bounds for the servers' response MACs (OpenSSL's mock answers with its own PBM: HMAC-SHA1, 500 iterations). */
const RESPONSE_CAPS = { maxIterations: 1_000_000, maxSaltBytes: 64, allowHmacSha1: true };
const CN = "2.5.4.3";

const ab = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const nameOf = (cn: string) => new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: CN, value: new AttributeValue({ utf8String: cn }) })])]);

export interface Answer { status: number; contentType: string; body: Buffer }

function post(url: string, der: Uint8Array, agent: Agent, timeoutMs: number, close: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { "Content-Type": "application/pkixcmp", "Content-Length": der.length };
    if (close) headers.Connection = "close";
    const req = request(url, { method: "POST", agent, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(Buffer.from(der));
  });
}

const preview = (a: Answer) => `HTTP ${a.status} ${a.contentType}: ${a.body.toString("utf8").replace(/[^\x20-\x7e]+/g, "·").slice(0, 200)}`;

/** What an error body says (failInfo bits and text), for the report. */
function errorText(d: DecodedMessage): string {
  const si = d.message.body.error?.pKIStatusInfo;
  return `error message: status ${si?.status} ${si?.statusString?.join(" ") ?? ""}`.trim();
}

export class CmpClient {
  private readonly spki: SubjectPublicKeyInfo;
  private protectionAlg: AlgorithmIdentifier;
  private macKey: Buffer;
  private readonly plan: Extract<MacPlan, { kind: "pbm" }>;
  private readonly sender: GeneralName;
  private readonly recipient: GeneralName;
  private readonly timeoutMs: number;

  constructor(private readonly o: CmpClientOptions) {
    this.spki = AsnConvert.parse(createPublicKey(o.key).export({ type: "spki", format: "der" }), SubjectPublicKeyInfo);
    this.plan = { kind: "pbm", salt: new Uint8Array(randomBytes(16)), owf: "sha256", iterations: o.iterations ?? 1000, mac: "sha256" };
    this.protectionAlg = macAlgorithmIdentifier(this.plan);
    this.macKey = pbmKey(this.plan, o.secret);
    // OpenSSL's server takes only a directoryName sender (it becomes the response's recipient).
    this.sender = new GeneralName({ directoryName: nameOf("CMP bench client") });
    this.recipient = new GeneralName({ directoryName: new Name() });
    this.timeoutMs = o.timeoutMs ?? 30_000;
  }

  private header(transactionID: ArrayBuffer, recipNonce?: ArrayBuffer): { header: PKIHeader; senderNonce: Buffer } {
    const senderNonce = randomBytes(16);
    const header = new PKIHeader({
      pvno: 2, sender: this.sender, recipient: this.recipient, messageTime: ab(generalizedTimeDer(new Date())),
      senderKID: ab(Buffer.from(this.o.kid, "utf8")), transactionID, senderNonce: ab(senderNonce), recipNonce,
    });
    return { header, senderNonce };
  }

  /** The cr PKIMessage (DER) for `commonName`. */
  crMessage(commonName: string, transactionID: ArrayBuffer): { der: Uint8Array; senderNonce: Buffer } {
    const certReq = new CertRequest({ certReqId: 0n, certTemplate: new CertTemplate({ subject: nameOf(commonName), publicKey: this.spki }) });
    const signature = sign("sha256", encodeDer(certReq), this.o.key);
    const popo = new ProofOfPossession({ signature: new POPOSigningKey({ algorithmIdentifier: algorithmIdentifier("ecdsa-sha256"), signature: new BitString(signature) }) });
    const body = new PKIBody({ cr: new CertReqMessages([new CertReqMsg({ certReq, popo })]) });
    const { header, senderNonce } = this.header(transactionID);
    return { der: this.protect(header, body), senderNonce };
  }

  /** The PKIMessage DER, PasswordBasedMac-protected with the client's salt and key. */
  private protect(header: PKIHeader, body: PKIBody): Uint8Array {
    if (this.o.freshSalt) {
      this.plan.salt = new Uint8Array(randomBytes(16));
      this.protectionAlg = macAlgorithmIdentifier(this.plan);
      this.macKey = pbmKey(this.plan, this.o.secret);
    }
    header.protectionAlg = this.protectionAlg;
    const h = toDer(header);
    const b = toDer(body);
    return encodePkiMessage(h, b, createHmac("sha256", this.macKey).update(derSequence(h, b)).digest());
  }

  /** POSTs `der`, decodes and MAC-checks the answer, and checks transactionID and recipNonce. */
  private async exchange(der: Uint8Array, transactionID: ArrayBuffer, senderNonce: Buffer, last = false): Promise<DecodedMessage | string> {
    const a = this.o.send ? await this.o.send(der) : await post(this.o.url, der, this.o.agent, this.timeoutMs, last && !!this.o.closeAfterTransaction);
    if (a.status !== 200) return preview(a);
    if (!a.contentType.toLowerCase().startsWith("application/pkixcmp")) return `Content-Type ${a.contentType}, expected application/pkixcmp`;
    let d: DecodedMessage;
    try {
      d = decodePkiMessage(new Uint8Array(a.body));
    } catch (e) {
      return `undecodable answer: ${(e as Error).message}`;
    }
    const v = await verifyMac(d, this.o.secret, RESPONSE_CAPS, this.answerKey);
    if (!v.ok) return `answer protection: ${v.reason}${d.bodyType === "error" ? ` (${errorText(d)})` : ""}`;
    const h = d.message.header;
    if (!h.transactionID || !Buffer.from(h.transactionID).equals(Buffer.from(transactionID))) return `${d.bodyType} for another transactionID`;
    if (!h.recipNonce || !Buffer.from(h.recipNonce).equals(senderNonce)) return `${d.bodyType}: recipNonce is not our senderNonce`;
    return d;
  }

  /** The key of an answer: ours when it mirrors our PBM parameters (the gateway does), else derived. */
  private readonly answerKey: DeriveKey = async (plan, secret) => {
    if (plan.kind !== "pbm") throw new Error(`answer protected with ${plan.kind}, expected PasswordBasedMac`);
    const ours = this.plan;
    if (plan.owf === ours.owf && plan.iterations === ours.iterations && Buffer.from(plan.salt).equals(ours.salt)) return this.macKey;
    return pbmKey(plan, secret);
  };

  /** One transaction: cr → cp (accepted, with a certificate) → certConf → pkiconf. `ms` covers both round trips. */
  async transaction(commonName: string): Promise<Transaction> {
    const t0 = performance.now();
    try {
      const transactionID = ab(randomBytes(16));
      const cr = this.crMessage(commonName, transactionID);
      const cp = await this.exchange(cr.der, transactionID, cr.senderNonce);
      if (typeof cp === "string") return { ok: false, error: `cr: ${cp}` };
      if (cp.bodyType !== "cp") return { ok: false, error: `cr answered with ${cp.bodyType}${cp.bodyType === "error" ? `: ${errorText(cp)}` : ""}` };
      const rep = cp.message.body.cp!.response[0];
      if (!rep) return { ok: false, error: "cp without a CertResponse" };
      if (rep.status.status !== 0 && rep.status.status !== 1) return { ok: false, error: `cp status ${rep.status.status}: ${rep.status.statusString?.join(" ") ?? ""}` };
      if (rep.certReqId !== 0n) return { ok: false, error: `cp for certReqId ${rep.certReqId}` };
      const certAb = rep.certifiedKeyPair?.certOrEncCert.certificate;
      if (!certAb) return { ok: false, error: "cp accepted without a certificate" };
      const cert = new Uint8Array(certAb);

      const status = new CertStatus({ certHash: ab(createHash("sha256").update(cert).digest()), certReqId: rep.certReqId });
      const { header, senderNonce } = this.header(transactionID, cp.message.header.senderNonce);
      const conf = this.protect(header, new PKIBody({ certConf: new CertConfirmContent([status]) }));
      const pc = await this.exchange(conf, transactionID, senderNonce, true);
      if (typeof pc === "string") return { ok: false, error: `certConf: ${pc}` };
      if (pc.bodyType !== "pkiconf") return { ok: false, error: `certConf answered with ${pc.bodyType}${pc.bodyType === "error" ? `: ${errorText(pc)}` : ""}` };
      return { ok: true, cert, ms: performance.now() - t0 };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }
}

/**
 * PBM key = owf^n(secret ‖ salt) (RFC 4211 §4.4), derived in the client's own thread (a device has no pool).
 * Each server checks it on every request: a wrong key fails every transaction with badMessageCheck.
 */
function pbmKey(plan: Extract<MacPlan, { kind: "pbm" }>, secret: Uint8Array): Buffer {
  // As the gateway's workers do (mac-pool.ts): one buffer rewritten in place, no Buffer (and no garbage) per round.
  const key = createHash(plan.owf).update(secret).update(plan.salt).digest();
  for (let i = 1; i < plan.iterations; i++) key.write(hash(plan.owf, key, "binary"), 0, "latin1"); // "binary" is latin1
  return key;
}
