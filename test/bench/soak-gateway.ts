import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { probe, waitUntil } from "./child.js";
import { launchGateway, ROOT, type GatewayProcess } from "./gateway-process.js";
import type { ProbeOp, ProbeReply, ProbeRequest } from "./soak-server.js";

/** What the traffic of the soak needs to reach every front-end of one gateway. */
export interface SoakTargets {
  https: string;
  http: string;
  /** The dev root (trust anchor of the HTTPS listener and of every issued certificate). */
  rootPem: string;
  /** The dev issuing CA, DER: OCSP requests name it. */
  issuingDer: Uint8Array;
  adminToken: string;
  est: { user: string; password: string };
  scepChallenge: string;
  cmp: { kid: string; secret: string };
}

export interface SoakGateway {
  targets: SoakTargets;
  pid: number;
  /** After a full GC in the gateway. */
  memory(): Promise<NodeJS.MemoryUsage>;
  /** Writes a heap snapshot (after a full GC) and returns its path. */
  snapshot(path: string): Promise<string>;
  /** CPU time the gateway process has used, user + system, ms (from /proc/<pid>/stat). */
  cpuMs(): number;
  rss(): { anon: number; file: number };
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/** Resident memory of a process by kind, bytes (/proc/<pid>/status): anonymous (heaps, malloc) and file-backed (code, mapped files). */
export function processRss(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { anon: kb("RssAnon"), file: kb("RssFile") + kb("RssShmem") };
}

/** utime + stime of a process, ms; fields 14 and 15 of /proc/<pid>/stat, in USER_HZ (100 on Linux). */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // from field 3 (state) on
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * `gateway serve` in its own process under test/bench/soak-server.ts (node --expose-gc, IPC channel): fresh
 * data dir with SQLite and the dev PKI, loopback listeners, every front-end on (ACME with validation off and
 * limits out of the way, EST with one Basic user, SCEP with a static challenge, CMP with one MAC secret).
 */
export async function startSoakGateway(): Promise<SoakGateway> {
  const est = { user: "soak", password: "soak-est-password" };
  const scepChallenge = "soak-scep-challenge";
  const cmp = { kid: "soak", secret: "soak-cmp-secret-0123456789" };
  const gw: GatewayProcess = await launchGateway("bench-soak-", {
    acme: {
      validation: { allow: ["127.0.0.0/8"], deny: [], insecureSkipValidation: true },
      rateLimits: { perAccount: { perSecond: 100_000, burst: 100_000 }, perAddress: { perSecond: 100_000, burst: 100_000 } },
    },
    est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [{ name: est.user, password: { env: "SOAK_EST_PASSWORD" } }] } }] },
    scep: { endpoints: [{ name: "default", profile: "device", challenge: { static: { env: "SOAK_SCEP_CHALLENGE" } } }] },
    cmp: { labels: [{ name: "default", profile: "device", secrets: [{ kid: cmp.kid, secret: { env: "SOAK_CMP_SECRET" } }] }] },
  }, { SOAK_EST_PASSWORD: est.password, SOAK_SCEP_CHALLENGE: scepChallenge, SOAK_CMP_SECRET: cmp.secret }, {
    entry: join(ROOT, "test/bench/soak-server.ts"), nodeArgs: ["--expose-gc"], ipc: true,
  });
  const { child, dataDir } = gw;
  const pending = new Map<number, (r: ProbeReply) => void>();
  let nextId = 1;
  child.proc.on("message", (r: ProbeReply) => {
    pending.get(r.id)?.(r);
    pending.delete(r.id);
  });
  const ask = (m: ProbeOp): Promise<ProbeReply> => new Promise((resolve, reject) => {
    if (!child.running) return reject(new Error(child.failure()));
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`gateway memory probe: no answer to ${m.op} in 120 s`));
    }, 120_000);
    pending.set(id, (r) => {
      clearTimeout(timer);
      if (r.error) reject(new Error(`gateway memory probe: ${r.error}`));
      else resolve(r);
    });
    const request: ProbeRequest = { ...m, id };
    child.proc.send(request);
  });
  try {
    await waitUntil("gateway /healthz", child, async () => (await probe(`${gw.https}/healthz`, { insecure: true })) === 200, 90_000);
    const path = (...p: string[]) => join(dataDir, ...p);
    for (const f of [path("cas", "dev-root", "cert.pem"), path("cas", "dev-issuing", "cert.pem"), path("admin-token")]) {
      if (!existsSync(f)) throw new Error(`gateway is up but ${f} is missing`);
    }
    const issuingPem = readFileSync(path("cas", "dev-issuing", "cert.pem"), "utf8");
    const issuingDer = new Uint8Array(Buffer.from(issuingPem.replace(/-----[^-]+-----|\s/g, ""), "base64"));
    return {
      targets: {
        https: gw.https, http: gw.http, rootPem: readFileSync(path("cas", "dev-root", "cert.pem"), "utf8"), issuingDer,
        adminToken: readFileSync(path("admin-token"), "utf8").trim(), est, scepChallenge, cmp,
      },
      pid: child.proc.pid!,
      memory: async () => (await ask({ op: "memory" })).memory!,
      snapshot: async (p) => (await ask({ op: "snapshot", path: p })).path!,
      cpuMs: () => processCpuMs(child.proc.pid!),
      rss: () => processRss(child.proc.pid!),
      logTail: (n) => child.tail(n),
      stop: () => gw.stop(),
    };
  } catch (e) {
    await gw.stop();
    throw e;
  }
}
