import { randomBytes, X509Certificate } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import type { Socket } from "node:net";
import { certFacts, OID, type CertFacts } from "../../src/cms/der.js";
import { envelopedData } from "../../src/cms/envelope.js";
import { readContentInfo, readSignedData } from "../../src/cms/read.js";
import { buildPkiMessage } from "../helpers/scep-client.js";
import { openCertRep, type CertRepRead } from "../helpers/scep-client.js";
import { processCpuMs } from "./cpu.js";
import type { ScepClientIdentity } from "./scep-csrs.js";

/** What GetCACaps and GetCACert told the client, and what it chose from them, as a device would. */
export interface ScepService {
  url: string;
  caps: string[];
  /** GetCACert's certificates, in the order sent. */
  certs: Uint8Array[];
  /** The certificate requests are encrypted to and answers are signed with: the RA when there is one, else the CA. */
  recipient: Uint8Array;
  /** `recipient` parsed once, as a device keeps it (node's X509Certificate costs about a third of an RSA signature). */
  recipientFacts: CertFacts;
  digest: "sha256" | "sha512" | "sha1";
  contentEncryption: "aes-128-cbc" | "aes-256-cbc" | "des-ede3-cbc";
  /** What GetCACert's Content-Type said. */
  caCertType: string;
}

interface Answer { status: number; contentType: string; body: Buffer }

function send(url: string, o: { agent: Agent; method: "GET" | "POST"; body?: Uint8Array; timeoutMs: number; sockets?: Set<Socket> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = o.body ? { "Content-Type": "application/x-pki-message", "Content-Length": o.body.length } : {};
    const req = request(url, { method: o.method, agent: o.agent, headers, timeout: o.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    if (o.sockets) req.on("socket", (s: Socket) => o.sockets!.add(s));
    req.on("timeout", () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(o.body && Buffer.from(o.body));
  });
}

const preview = (a: Answer) => `HTTP ${a.status} ${a.contentType}: ${a.body.toString("utf8").replace(/[^\x20-\x7e]+/g, "·").slice(0, 300)}`;

/**
 * GetCACert's certificates: one DER certificate (application/x-x509-ca-cert, a CA without RA) or a degenerate
 * PKCS#7 (application/x-x509-ca-ra-cert, RA certificate(s) and the CA chain), RFC 8894 §4.2.1.
 */
function caCertificates(a: Answer): Uint8Array[] {
  const der = new Uint8Array(a.body);
  if (a.contentType.startsWith("application/x-x509-ca-cert")) return [der];
  if (!a.contentType.startsWith("application/x-x509-ca-ra-cert")) throw new Error(`GetCACert: unexpected ${preview(a)}`);
  const ci = readContentInfo(der);
  if (ci.type !== OID.signedData) throw new Error("GetCACert: the PKCS#7 is not a SignedData");
  const certs = readSignedData(der, ci.content).certificates;
  if (!certs.length) throw new Error("GetCACert: the PKCS#7 holds no certificate");
  return certs;
}

/**
 * GetCACaps and GetCACert, once per server, over the first worker's connection. Encrypts to the RA (the
 * certificate that is not a CA) when GetCACert sends several, else to the one CA certificate; SHA-256 and
 * AES-128-CBC when offered (RFC 8894 §3.5.2: "AES" is AES-128-CBC), the algorithms any current client picks.
 */
export async function discover(url: string, agent: Agent, timeoutMs: number): Promise<ScepService> {
  const capsAnswer = await send(`${url}?operation=GetCACaps`, { agent, method: "GET", timeoutMs });
  if (capsAnswer.status !== 200) throw new Error(`GetCACaps: ${preview(capsAnswer)}`);
  const caps = capsAnswer.body.toString("utf8").split(/\r?\n/).map((c) => c.trim()).filter(Boolean);
  const has = (c: string) => caps.some((x) => x.toLowerCase() === c.toLowerCase());
  if (!has("POSTPKIOperation")) throw new Error(`GetCACaps: no POSTPKIOperation in ${caps.join(",")}`);
  const caAnswer = await send(`${url}?operation=GetCACert`, { agent, method: "GET", timeoutMs });
  if (caAnswer.status !== 200) throw new Error(`GetCACert: ${preview(caAnswer)}`);
  const certs = caCertificates(caAnswer);
  const parsed = certs.map((c) => new X509Certificate(c));
  const ra = certs.length > 1 ? certs.find((_, i) => !parsed[i].ca) : undefined;
  const recipient = ra ?? certs[0];
  const kind = new X509Certificate(recipient).publicKey.asymmetricKeyType;
  if (kind !== "rsa") throw new Error(`GetCACert: the certificate to encrypt to has a ${kind} key; SCEP key transport needs RSA`);
  return {
    url, caps, certs, recipient, recipientFacts: certFacts(recipient, "the certificate to encrypt to"),
    digest: has("SHA-256") ? "sha256" : has("SHA-512") ? "sha512" : "sha1",
    contentEncryption: has("AES") ? "aes-128-cbc" : "des-ede3-cbc",
    caCertType: caAnswer.contentType,
  };
}

/** `refused`: the server answered with a well-formed, signed CertRep that is not SUCCESS (FAILURE or PENDING). */
export type Enrollment = { ok: true; cert: Uint8Array; ms: number } | { ok: false; error: string; refused?: boolean };

/**
 * One PKCSReq: fresh transactionID and senderNonce, signed with the client key under its self-signed
 * certificate, CSR enveloped to `svc.recipient`; POST PKIOperation; the CertRep opened (signature by the
 * recipient certificate, our nonce and transaction echoed, the envelope decrypted with the client key).
 * `ms` is the POST's round trip: the part of the enrollment the server is responsible for.
 */
export async function enrollOnce(svc: ScepService, id: ScepClientIdentity, csr: Uint8Array, agent: Agent, timeoutMs: number, sockets?: Set<Socket>): Promise<Enrollment> {
  const transactionId = randomBytes(16).toString("hex");
  const senderNonce = new Uint8Array(randomBytes(16));
  // The pkcsPKIEnvelope as buildPkiMessage makes it (PKCS #1 v1.5 key transport), with the recipient parsed once.
  const envelope = envelopedData({ content: csr, contentType: OID.data, recipient: svc.recipientFacts, cipher: svc.contentEncryption, rsaKeyTransport: "pkcs1-v1_5" });
  const der = buildPkiMessage({
    messageType: 19, transactionId, senderNonce, content: csr, signerCert: id.signerCert, signerKey: id.key,
    recipientCert: svc.recipient, digest: svc.digest, contentEncryption: svc.contentEncryption, envelope,
  });
  const t0 = performance.now();
  const a = await send(`${svc.url}?operation=PKIOperation`, { agent, method: "POST", body: der, timeoutMs, sockets });
  const ms = performance.now() - t0;
  if (a.status !== 200) return { ok: false, error: preview(a) };
  if (!a.contentType.startsWith("application/x-pki-message")) return { ok: false, error: `Content-Type ${a.contentType}, expected application/x-pki-message` };
  let rep: CertRepRead;
  try {
    // One reader for both servers (legacyPeer: scepserver answers with single DES), so the client's work is the same.
    rep = openCertRep(new Uint8Array(a.body), { recipientKey: id.key, raCert: svc.recipient, signer: svc.recipientFacts, legacyPeer: true });
  } catch (e) {
    return { ok: false, error: `the CertRep does not open: ${(e as Error).message}` };
  }
  if (rep.status !== "SUCCESS") return { ok: false, refused: true, error: `CertRep ${rep.status}${rep.failInfo ? ` (${rep.failInfo})` : ""}` };
  if (rep.transactionId !== transactionId) return { ok: false, error: `CertRep for transaction ${rep.transactionId}, not ${transactionId}` };
  if (!Buffer.from(rep.recipientNonce).equals(Buffer.from(senderNonce))) return { ok: false, error: "the CertRep's recipientNonce is not our senderNonce" };
  if (!rep.certs.length) return { ok: false, error: "CertRep SUCCESS without a certificate" };
  return { ok: true, cert: rep.certs[0], ms };
}

/** CPU seconds (user + system) of the process whose command line contains `marker`, from /proc; undefined when not found. */
export function processCpuSeconds(marker: string): number | undefined {
  const ticks = 100; // USER_HZ on Linux
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from #3 (state) on
      return (Number(fields[11]) + Number(fields[12])) / ticks; // utime #14, stime #15
    } catch {
      // the process went away meanwhile
    }
  }
  return undefined;
}

export interface WindowResult {
  /** Enrollments that ended with a certificate inside the window. */
  ok: number;
  seconds: number;
  latenciesMs: number[];
  /** Failed enrollments (HTTP errors, FAILURE/PENDING answers, CertReps that do not open, no answer). */
  errors: number;
  /** Of those, answers that were well-formed CertReps with FAILURE or PENDING. */
  refused: number;
  firstErrors: string[];
  /** CPU of this (load generator) process during the window, % of one core. */
  clientCpuPercent: number;
  /** CPU of the server process during the window, % of one core; null when it could not be read. */
  serverCpuPercent: number | null;
  /** Server CPU milliseconds (utime + stime, /proc) over the window; null without `serverPid`. */
  serverCpuMs: number | null;
}

export interface WindowOptions {
  svc: ScepService;
  id: ScepClientIdentity;
  agents: Agent[];
  sockets: Set<Socket>;
  seconds: number;
  requestTimeoutMs: number;
  /** The next CSR to enroll (each once). */
  take: () => Uint8Array;
  /** The server process, for its CPU time in /proc. */
  serverPid?: number;
}

/**
 * One timed window: every agent (one keep-alive socket each) runs enrollments back to back until the
 * window closes. Enrollments that end inside it count; those still running at the end finish (so the next
 * window starts from idle) but do not.
 */
export async function runWindow(o: WindowOptions): Promise<WindowResult> {
  const done: Array<{ at: number; ms: number }> = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let refused = 0;
  const cpu0 = process.cpuUsage();
  const server0 = o.serverPid ? processCpuMs(o.serverPid) : undefined;
  const from = performance.now();
  const to = from + o.seconds * 1000;
  let clientCpu: number | undefined;
  let serverCpu: number | undefined;
  // Read when the window closes, not when the last request (which may end after it) returns.
  const sample = () => {
    if (clientCpu !== undefined) return;
    const d = process.cpuUsage(cpu0);
    clientCpu = (d.user + d.system) / 1e6;
    const s1 = o.serverPid ? processCpuMs(o.serverPid) : undefined;
    if (server0 !== undefined && s1 !== undefined) serverCpu = s1 - server0;
  };
  const closeTimer = setTimeout(sample, o.seconds * 1000);
  try {
    await Promise.all(o.agents.map(async (agent) => {
      while (performance.now() < to) {
        try {
          const r = await enrollOnce(o.svc, o.id, o.take(), agent, o.requestTimeoutMs, o.sockets);
          if (r.ok) done.push({ at: performance.now(), ms: r.ms });
          else {
            errors++;
            if (r.refused) refused++;
            if (firstErrors.length < 5) firstErrors.push(r.error);
          }
        } catch (e) {
          errors++;
          if (firstErrors.length < 5) firstErrors.push((e as Error).message);
        }
        if (performance.now() >= to) sample();
      }
    }));
  } finally {
    clearTimeout(closeTimer);
    sample();
  }
  const counted = done.filter((d) => d.at <= to);
  const pct = (s: number) => Math.round((s / o.seconds) * 100);
  return {
    ok: counted.length, seconds: o.seconds, latenciesMs: counted.map((d) => d.ms), errors, refused, firstErrors,
    clientCpuPercent: pct(clientCpu ?? 0), serverCpuPercent: serverCpu === undefined ? null : pct(serverCpu / 1000), serverCpuMs: serverCpu ?? null,
  };
}

/** One keep-alive agent (one socket) per worker. */
export function makeAgents(n: number): Agent[] {
  return Array.from({ length: n }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
}
