/**
 * `gateway serve` for the scale bench: one protocol section (ACME with validation off, EST with one Basic user,
 * SCEP with a static challenge, each as its own bench configures it), a store (a fresh SQLite file in the data
 * dir, or a fresh database on the bench's PostgreSQL cluster) and `workers: N` in the config. Dev PKI (software
 * ECDSA P-256 issuing key) for all three, so the protocols differ only in their own work; est.bench.ts uses a
 * SoftHSM key instead, so its absolute figures are not comparable with these.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createDatabase, type TestDatabase } from "../helpers/postgres.js";
import { probe, waitUntil } from "./child.js";
import { launchGateway, type GatewayProcess } from "./gateway-process.js";

export type Protocol = "acme" | "est" | "scep";
export type StoreKind = "sqlite" | "postgres";

export interface ScaleServer {
  protocol: Protocol;
  store: StoreKind;
  workers: number;
  /** The primary (or the only) process: the root of the process tree whose CPU is summed. */
  pid: number;
  https: string;
  http: string;
  /** Trust anchor of the HTTPS listener and of issued certificates (the dev root). */
  rootPem: string;
  /** Set for EST. */
  est?: { user: string; password: string };
  /** Set for SCEP. */
  scepChallenge?: string;
  stop(): Promise<void>;
}

export interface ScaleServerOptions {
  protocol: Protocol;
  store: StoreKind;
  workers: number;
  /** The cluster's superuser URL (store "postgres"): each server gets a database of its own, dropped at stop. */
  pgUrl?: string;
  /** Connections per gateway process on PostgreSQL. */
  poolSize: number;
  /** ACME http-01 port (unused with validation off, but the config names one). */
  http01Port: number;
  scepChallenge: string;
}

const EST_USER = "bench";
const EST_PASSWORD = "bench-est-password";
const unlimited = { perSecond: 100_000, burst: 100_000 };

function sectionsFor(o: ScaleServerOptions): Record<string, unknown> {
  switch (o.protocol) {
    case "acme":
      return { acme: {
        validation: { httpPort: o.http01Port, allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.bench.test": "127.0.0.1" }, insecureSkipValidation: true },
        rateLimits: { perAccount: unlimited, perAddress: unlimited },
      } };
    case "est":
      return { est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [{ name: EST_USER, password: { env: "BENCH_EST_PASSWORD" } }] } }] } };
    case "scep":
      return { scep: { endpoints: [{ name: "default", profile: "device", challenge: { static: { env: "BENCH_SCEP_CHALLENGE" } } }] } };
  }
}

export async function startScaleServer(o: ScaleServerOptions): Promise<ScaleServer> {
  let db: TestDatabase | undefined;
  if (o.store === "postgres") {
    if (!o.pgUrl) throw new Error("store postgres without a cluster URL");
    db = await createDatabase(o.pgUrl);
  }
  const store = db ? { kind: "postgres", url: { env: "BENCH_PG_URL" }, poolSize: o.poolSize } : { kind: "sqlite" };
  let gw: GatewayProcess | undefined;
  try {
    gw = await launchGateway(`bench-scale-${o.protocol}-`, { ...sectionsFor(o), store, workers: o.workers }, {
      BENCH_PG_URL: db?.url ?? "", BENCH_EST_PASSWORD: EST_PASSWORD, BENCH_SCEP_CHALLENGE: o.scepChallenge,
    });
    const g = gw;
    const logPath = join(g.dir, "gateway.log");
    // Every worker ready: the primary prints its banner (with "primary pid") only once all of them reported ready.
    await waitUntil("gateway ready", g.child, async () => (await probe(`${g.https}/healthz`, { insecure: true })) === 200
      && (o.workers === 1 || (existsSync(logPath) && readFileSync(logPath, "utf8").includes("primary pid"))), 90_000);
    const rootPath = join(g.dataDir, "cas", "dev-root", "cert.pem");
    if (!existsSync(rootPath)) throw new Error(`gateway is up but its dev root ${rootPath} is missing`);
    if (g.child.proc.pid === undefined) throw new Error(`gateway has no pid: ${g.child.failure()}`);
    const rootPem = readFileSync(rootPath, "utf8");
    const check = o.protocol === "acme" ? `${g.https}/acme/directory` : o.protocol === "est" ? `${g.https}/.well-known/est/cacerts` : `${g.http}/scep?operation=GetCACaps`;
    const status = await probe(check, { caPem: rootPem });
    if (status !== 200) throw new Error(`${check}: ${status ?? "no answer"}\n${g.child.tail()}`);
    return {
      protocol: o.protocol, store: o.store, workers: o.workers, pid: g.child.proc.pid, https: g.https, http: g.http, rootPem,
      est: o.protocol === "est" ? { user: EST_USER, password: EST_PASSWORD } : undefined,
      scepChallenge: o.protocol === "scep" ? o.scepChallenge : undefined,
      async stop() {
        await g.stop();
        await db?.drop();
      },
    };
  } catch (e) {
    await gw?.stop();
    await db?.drop();
    throw e;
  }
}
