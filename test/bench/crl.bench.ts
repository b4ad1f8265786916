// npm run bench:crl — CRLs at fleet scale, in-process (this process is the gateway; CPU is its own utime+stime).
// Data: N revoked certificates written straight into a fresh store by test/revocation/crl-seed.ts (direct SQL in
// 50k-row transactions, stand-in DER of BENCH_CRL_DER_BYTES per row), not through enrollment.
// Cases (one JSON line each):
//   crl-build-before-<N>  the object-tree encoder this replaced (N ≤ 100k only: it takes ~10 s of CPU per 100k)
//   crl-build-<N>         CrlPublisher.publish: keyset pages off the covering index, streamed DER, sign, store
//   revoke-admin-api-<N>  POST /admin/api/v1/certificates/:serial/revoke over HTTP with N revoked present (no build on the path)
//   revoke-during-build-<N> the same while a full rebuild of the N-entry CRL is in flight (event-loop sharing)
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { validateConfig } from "../../src/config/load.js";
import { openGateway, type Gateway } from "../../src/gateway.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { buildCrlReference } from "../revocation/crl-reference.js";
import { seedCertificates } from "../revocation/crl-seed.js";
import { cpuRatio, selfCpuMs } from "./cpu.js";
import { numberEnv, percentile, round1 } from "./stats.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SIZES = (process.env.BENCH_CRL_SIZES ?? "100000,1000000").split(",").map(Number);
const REVOCATIONS = numberEnv("BENCH_CRL_REVOCATIONS", 50, 1);
const DER_BYTES = numberEnv("BENCH_CRL_DER_BYTES", 600, 0);
const BEFORE = process.env.BENCH_CRL_BEFORE !== "0";
const TARGET_1M_MS = 10_000;
const TARGET_REVOKE_MS = 50;

const line = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

async function measure<T>(fn: () => Promise<T>): Promise<{ cpuMs: number; wallMs: number; value: T }> {
  const c0 = selfCpuMs();
  const t0 = performance.now();
  const value = await fn();
  return { cpuMs: selfCpuMs() - c0, wallMs: performance.now() - t0, value };
}

async function openBenchGateway(dir: string): Promise<Gateway> {
  const config = validateConfig({
    dataDir: join(dir, "data"), profilesDir: join(ROOT, "profiles"), log: { level: "silent" },
    listen: { https: { host: "127.0.0.1", port: 0 }, http: { host: "127.0.0.1", port: 0 } }, externalUrl: { http: "http://127.0.0.1:8080" },
  });
  return openGateway(config, pino({ level: "silent" }));
}

async function adminServer(gw: Gateway): Promise<{ server: Server; base: string; token: string }> {
  const { buildApps } = await import("../../src/server/apps.js");
  const apps = await buildApps(gw);
  const server = createServer(apps.https); // the admin app itself; plain HTTP keeps TLS out of the figure
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { readFileSync } = await import("node:fs");
  const addr = server.address();
  return { server, base: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`, token: readFileSync(gw.paths.adminToken, "utf8").trim() };
}

async function revokeLatencies(base: string, token: string, serials: string[], spacingMs = 0): Promise<number[]> {
  const out: number[] = [];
  for (const s of serials) {
    const t0 = performance.now();
    const res = await fetch(`${base}/admin/api/v1/certificates/${s}/revoke`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ reason: "keyCompromise" }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`revoke ${s}: HTTP ${res.status}`);
    out.push(performance.now() - t0);
    if (spacingMs) await new Promise((r) => setTimeout(r, spacingMs));
  }
  return out.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "gw-bench-crl-"));
  const gw = await openBenchGateway(dir);
  const ca = gw.cas.issuing[0];
  const db = (gw.store as SqliteStore).raw;
  const admin = await adminServer(gw);
  let seeded = 0;
  let oldMsPer100k: number | null = null;
  try {
    for (const n of SIZES.sort((a, b) => a - b)) {
      const t0 = performance.now();
      seedCertificates(db, ca.name, n - seeded, { revoked: true, derBytes: DER_BYTES });
      seeded = n;
      console.error(`seeded ${n} revoked certificates (${Math.round(performance.now() - t0)} ms, direct SQL)`);
      await gw.crls.publish(ca); // warm-up: JIT, page cache
      if (BEFORE && n <= 100_000) {
        const m = await measure(async () => buildCrlReference(ca, await gw.store.revokedFor(ca.name), 1, new Date(), new Date(Date.now() + 86_400_000)));
        oldMsPer100k = (m.cpuMs / n) * 100_000;
        line({
          case: `crl-build-before-${n}`, ops: 1, entries: n, gateway_cpu_ms_per_op: Math.round(m.cpuMs), cpu_ms_per_entry: m.cpuMs / n, wall_ms: Math.round(m.wallMs),
          der_bytes: m.value.length, reference: null, reference_cpu_ms_per_op: null, cpu_ratio: null, target: "none (the encoder this replaced)", met: true,
        });
      }
      const m = await measure(() => gw.crls.publish(ca));
      const ref = n <= 100_000 && oldMsPer100k !== null ? (oldMsPer100k * n) / 100_000 : null;
      line({
        case: `crl-build-${n}`, ops: 1, entries: n, gateway_cpu_ms_per_op: Math.round(m.cpuMs), cpu_ms_per_entry: Math.round((m.cpuMs / n) * 10_000) / 10_000,
        wall_ms: Math.round(m.wallMs), der_bytes: m.value.der.length,
        reference: ref === null ? null : "object-tree encoder (before)", reference_cpu_ms_per_op: ref === null ? null : Math.round(ref), cpu_ratio: cpuRatio(m.cpuMs, ref),
        target: "< 10 s for 1M entries (linear)", met: (m.cpuMs / n) * 1_000_000 < TARGET_1M_MS,
      });
    }

    // Revocation latency with `seeded` revoked present: no CRL build on the request path.
    const targets = seedCertificates(db, ca.name, REVOCATIONS * 2 + 20, { revoked: false, derBytes: DER_BYTES });
    await revokeLatencies(admin.base, admin.token, targets.slice(0, 10)); // warm-up
    await gw.crls.settled();
    const builds0 = gw.crls.stats.started;
    const c0 = selfCpuMs();
    const w0 = performance.now();
    const lat = await revokeLatencies(admin.base, admin.token, targets.slice(10, 10 + REVOCATIONS));
    const cpu = selfCpuMs() - c0;
    const wall = performance.now() - w0;
    const p99 = percentile(lat, 99)!;
    line({
      case: `revoke-admin-api-${seeded}`, ops: lat.length, revoked_present: seeded, gateway_cpu_ms_per_op: Math.round((cpu / lat.length) * 1000) / 1000,
      throughput_per_s: Math.round((lat.length / wall) * 1000 * 10) / 10, p50_ms: round1(percentile(lat, 50)), p99_ms: round1(p99),
      crl_builds_during: gw.crls.stats.started - builds0, cpu_includes_http_client: true,
      reference: oldMsPer100k === null ? null : "before: revoke rebuilt the CRL synchronously (100k entries)", reference_cpu_ms_per_op: oldMsPer100k === null ? null : Math.round(oldMsPer100k),
      cpu_ratio: cpuRatio(cpu / lat.length, oldMsPer100k), target: "p99 < 50 ms with 1M revoked present", met: p99 < TARGET_REVOKE_MS,
    });

    // The same while a full rebuild is in flight: pages yield to the event loop, so revocations interleave.
    await gw.crls.settled();
    const rebuild = gw.crls.publish(ca);
    const during = await revokeLatencies(admin.base, admin.token, targets.slice(10 + REVOCATIONS, 10 + 2 * REVOCATIONS), 20);
    const rec = await rebuild;
    line({
      case: `revoke-during-build-${seeded}`, ops: during.length, revoked_present: seeded, p50_ms: round1(percentile(during, 50)), p99_ms: round1(percentile(during, 99)),
      max_ms: round1(during.at(-1)!), crl_number: rec.number, gateway_cpu_ms_per_op: null, throughput_per_s: null,
      reference: null, reference_cpu_ms_per_op: null, cpu_ratio: null, target: "p99 < 50 ms while a 1M rebuild runs (informative)", met: percentile(during, 99)! < TARGET_REVOKE_MS,
    });
    await gw.crls.settled();
  } finally {
    await new Promise((r) => admin.server.close(r));
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
