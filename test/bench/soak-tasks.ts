import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { OCSPResponse, OCSPResponseStatus } from "@peculiar/asn1-ocsp";
import { AcmeClient } from "../helpers/acme-client.js";
import { CmpClient } from "./cmp-client.js";
import { csrForName } from "./csr-fast.js";
import { csrWithCn } from "./est-csrs.js";
import { enrollmentName, scepCsr, type ScepClientIdentity } from "./scep-csrs.js";
import { enrollOnce as scepEnroll, type ScepService } from "./scep-load.js";
import type { SoakTargets } from "./soak-gateway.js";
import { Agents, expectStatus, send } from "./soak-http.js";
import type { OcspRequests } from "./soak-ocsp.js";

/*
 * One unit of traffic per kind, as a client of that front-end sends it. Each task checks the answer it
 * expects (a refusal where it sends something wrong on purpose) and returns how many HTTP requests it made.
 */

export const TASK_KINDS = ["acme-order", "acme-account", "est", "est-refused", "scep", "scep-caps", "cmp", "cmp-refused", "ocsp", "admin", "console"] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

const TIMEOUT_MS = 30_000;

/** What every worker shares: targets, the discovered SCEP service, the serials known so far (for OCSP and admin). */
export interface Shared {
  t: SoakTargets;
  scep: ScepService;
  scepId: ScepClientIdentity;
  ocsp: OcspRequests;
  serials: string[];
  /** One P-256 key pair per kind of CSR, reused: key generation is not what is measured. */
  csrKey: KeyObject;
  csrSpki: Uint8Array;
  cmpKey: KeyObject;
}

/**
 * One worker's clients; `agents` (and the CMP client on them) are replaced every batch, the ACME account lives
 * for the whole soak. Requests refused on purpose go from another loopback address (`refusing`), so the
 * gateway's per-address failure throttles never hold back the well-behaved traffic.
 */
export interface Worker {
  n: number;
  agents: Agents;
  refusing: Agents;
  cmp?: CmpClient;
  acme: AcmeClient;
  acmeRequests: number;
}

let seq = 0;
const unique = () => `${process.pid.toString(36)}-${(++seq).toString(36)}`;

/** An ACME client whose requests are counted on the worker (directory fetch and HEAD newNonce excepted). */
export async function acmeClient(s: Shared, w: Pick<Worker, "acmeRequests">): Promise<AcmeClient> {
  const c = await AcmeClient.create({ directoryUrl: `${s.t.https}/acme/directory`, caPem: s.t.rootPem, timeoutMs: TIMEOUT_MS, maxSockets: 1 });
  const request = c.request.bind(c);
  c.request = (...a) => {
    w.acmeRequests++;
    return request(...a);
  };
  const res = await c.newAccount({ termsOfServiceAgreed: true });
  if (res.status !== 201) throw new Error(`ACME newAccount: HTTP ${res.status} ${res.body.toString().slice(0, 200)}`);
  return c;
}

async function acmeOrder(c: AcmeClient, s: Shared): Promise<void> {
  await c.issue([{ type: "dns", value: `a-${unique()}.soak.test` }], {
    csrKey: s.csrKey, csr: (key, ids) => csrForName(key, ids[0].value), pollChallenge: true, poll: { intervalMs: 20, maxWaitMs: 20, timeoutMs: TIMEOUT_MS },
  });
}

function adminHeaders(s: Shared): Record<string, string> {
  return { authorization: `Bearer ${s.t.adminToken}` };
}

function pick<T>(xs: T[]): T | undefined {
  return xs.length ? xs[Math.floor(Math.random() * xs.length)] : undefined;
}

async function admin(s: Shared, w: Worker, i: number): Promise<number> {
  const a = { agents: w.agents, headers: adminHeaders(s), timeoutMs: TIMEOUT_MS };
  const serial = pick(s.serials);
  switch (serial ? i % 5 : 0) {
    case 0: {
      const r = expectStatus("admin certificate list", await send(`${s.t.https}/admin/api/v1/certificates?limit=50`, a), 200);
      const certs = (JSON.parse(r.body.toString("utf8")) as { certificates: Array<{ serial: string; status: string }> }).certificates;
      // Keep a bounded, fresh sample: OCSP and lookups go to recently issued certificates.
      for (const c of certs) if (c.status === "valid") s.serials.push(c.serial);
      if (s.serials.length > 500) s.serials.splice(0, s.serials.length - 500);
      break;
    }
    case 1:
      expectStatus("admin certificate", await send(`${s.t.https}/admin/api/v1/certificates/${serial}`, a), 200);
      break;
    case 2:
      expectStatus("metrics", await send(`${s.t.http}/metrics`, { agents: w.agents, timeoutMs: TIMEOUT_MS }), 200);
      break;
    case 3:
      expectStatus("admin audit", await send(`${s.t.https}/admin/api/v1/audit?limit=20`, a), 200);
      break;
    default:
      // An unknown id: a 404 must not leave anything behind (metrics labels, caches keyed by path).
      expectStatus("admin unknown certificate", await send(`${s.t.https}/admin/api/v1/certificates/${randomBytes(16).toString("hex")}`, a), 404);
  }
  return 1;
}

/** Console login → session → logout: one in-memory session made and ended. */
async function consoleSession(s: Shared, w: Worker): Promise<number> {
  const base = `${s.t.https}/console/api`;
  const json = { "content-type": "application/json" };
  const login = expectStatus("console login", await send(`${base}/login`, { agents: w.agents, headers: json, body: JSON.stringify({ token: s.t.adminToken }), timeoutMs: TIMEOUT_MS }), 200);
  const cookie = String(login.headers["set-cookie"]?.[0] ?? "").split(";")[0];
  const { csrfToken } = JSON.parse(login.body.toString("utf8")) as { csrfToken: string };
  expectStatus("console session", await send(`${base}/session`, { agents: w.agents, headers: { cookie }, timeoutMs: TIMEOUT_MS }), 200);
  expectStatus("console logout", await send(`${base}/logout`, { agents: w.agents, method: "POST", headers: { cookie, "x-csrf-token": csrfToken }, timeoutMs: TIMEOUT_MS }), 204);
  return 3;
}

async function est(s: Shared, w: Worker, refused: boolean): Promise<number> {
  const name = `e-${unique()}.soak.example.com`;
  const csr = Buffer.from(csrWithCn(s.csrKey, s.csrSpki, name)).toString("base64");
  const password = refused ? "not-the-password" : s.t.est.password;
  const auth = `Basic ${Buffer.from(`${s.t.est.user}:${password}`).toString("base64")}`;
  const r = await send(`${s.t.https}/.well-known/est/simpleenroll`, { agents: refused ? w.refusing : w.agents, headers: { "content-type": "application/pkcs10", authorization: auth }, body: csr, timeoutMs: TIMEOUT_MS });
  if (refused) expectStatus("EST with a wrong password", r, 401);
  else if (!String(expectStatus("EST simpleenroll", r, 200).headers["content-type"]).startsWith("application/pkcs7-mime")) throw new Error(`EST simpleenroll: ${r.headers["content-type"]}`);
  return 1;
}

async function scep(s: Shared, w: Worker): Promise<number> {
  const csr = scepCsr(s.scepId, enrollmentName(unique(), 0), s.t.scepChallenge);
  const r = await scepEnroll(s.scep, s.scepId, csr, w.agents.http, TIMEOUT_MS);
  if (!r.ok) throw new Error(`SCEP PKCSReq: ${r.error}`);
  return 1;
}

async function scepCaps(s: Shared, w: Worker, i: number): Promise<number> {
  const op = i % 2 ? "GetCACert" : "GetCACaps";
  expectStatus(`SCEP ${op}`, await send(`${s.t.http}/scep?operation=${op}`, { agents: w.agents, timeoutMs: TIMEOUT_MS }), 200);
  return 1;
}

async function cmp(s: Shared, w: Worker, refused: boolean): Promise<number> {
  // A wrong secret under a fresh kid: the refusal path, where per-sender state (throttling) would live.
  const client = refused
    ? new CmpClient({ url: `${s.t.http}/.well-known/cmp`, kid: `soak-${unique()}`, secret: new TextEncoder().encode("wrong-secret"), key: s.cmpKey, agent: w.refusing.http, timeoutMs: TIMEOUT_MS })
    : (w.cmp ??= new CmpClient({ url: `${s.t.http}/.well-known/cmp`, kid: s.t.cmp.kid, secret: new TextEncoder().encode(s.t.cmp.secret), key: s.cmpKey, agent: w.agents.http, timeoutMs: TIMEOUT_MS }));
  const r = await client.transaction(`c-${unique()}.soak.example.com`);
  if (refused) {
    if (r.ok) throw new Error("CMP under a wrong secret was accepted");
    return 1;
  }
  if (!r.ok) throw new Error(`CMP cr: ${r.error}`);
  return 2;
}

async function ocsp(s: Shared, w: Worker, i: number): Promise<number> {
  const serial = pick(s.serials);
  if (!serial) return admin(s, w, 0);
  const der = s.ocsp.request(serial, i % 2 === 0);
  // RFC 6960 appendix A: POST, or GET with the request base64 (URL-encoded) in the path.
  const r = i % 4 === 1
    ? await send(`${s.t.http}/ocsp/${encodeURIComponent(Buffer.from(der).toString("base64"))}`, { agents: w.agents, timeoutMs: TIMEOUT_MS })
    : await send(`${s.t.http}/ocsp`, { agents: w.agents, headers: { "content-type": "application/ocsp-request" }, body: der, timeoutMs: TIMEOUT_MS });
  expectStatus("OCSP", r, 200);
  const status = AsnConvert.parse(r.body, OCSPResponse).responseStatus;
  if (status !== OCSPResponseStatus.successful) throw new Error(`OCSP responseStatus ${status}`);
  return 1;
}

/** Runs task `kind` number `i` of the batch; returns the HTTP requests it made. */
export async function runTask(kind: TaskKind, i: number, s: Shared, w: Worker): Promise<number> {
  switch (kind) {
    case "acme-order": {
      // A connection per order, as a client polling now and then has: no idle keep-alive socket to race the server's close.
      w.acme.close();
      const before = w.acmeRequests;
      await acmeOrder(w.acme, s);
      return w.acmeRequests - before;
    }
    case "acme-account": {
      // A client seen once: new account key, one order, gone (what per-key caches must not keep forever).
      const counter = { acmeRequests: 0 };
      const c = await acmeClient(s, counter);
      try {
        await acmeOrder(c, s);
      } finally {
        c.close();
      }
      return counter.acmeRequests;
    }
    case "est": return est(s, w, false);
    case "est-refused": return est(s, w, true);
    case "scep": return scep(s, w);
    case "scep-caps": return scepCaps(s, w, i);
    case "cmp": return cmp(s, w, false);
    case "cmp-refused": return cmp(s, w, true);
    case "ocsp": return ocsp(s, w, i);
    case "admin": return admin(s, w, i);
    case "console": return consoleSession(s, w);
  }
}

/** A fresh P-256 key pair for CSRs: private key and DER SPKI. */
export function p256(): { key: KeyObject; spki: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { key: privateKey, spki: new Uint8Array(publicKey.export({ type: "spki", format: "der" })) };
}
