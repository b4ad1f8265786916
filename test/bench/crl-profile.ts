// Profile of one CRL build (node:inspector CPU profile over the build only): top functions by self time, and GC.
// BENCH_CRL_PROFILE_MODE=before|after, BENCH_CRL_SIZES=<N>. Used for the figures in test/bench/README.md.
import { Session } from "node:inspector/promises";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { validateConfig } from "../../src/config/load.js";
import { openGateway } from "../../src/gateway.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { buildCrlReference } from "../revocation/crl-reference.js";
import { seedCertificates } from "../revocation/crl-seed.js";

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount: number }
interface Profile { nodes: Node[]; samples: number[] }

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const n = Number(process.env.BENCH_CRL_SIZES ?? 100_000);
const mode = process.env.BENCH_CRL_PROFILE_MODE ?? "after";
const dir = mkdtempSync(join(tmpdir(), "gw-crl-prof-"));
const gw = await openGateway(validateConfig({ dataDir: join(dir, "data"), profilesDir: join(ROOT, "profiles"), log: { level: "silent" } }), pino({ level: "silent" }));
const ca = gw.cas.issuing[0];
seedCertificates((gw.store as SqliteStore).raw, ca.name, n, { revoked: true, derBytes: 600 });
const build = async () => (mode === "before" ? buildCrlReference(ca, await gw.store.revokedFor(ca.name), 1, new Date(), new Date(Date.now() + 86_400_000)) : gw.crls.publish(ca));
await build(); // warm-up
const s = new Session();
s.connect();
await s.post("Profiler.enable");
await s.post("Profiler.setSamplingInterval", { interval: 200 });
await s.post("Profiler.start");
await build();
const { profile } = (await s.post("Profiler.stop")) as { profile: Profile };
writeFileSync(join(tmpdir(), `crl-${mode}-${n}.cpuprofile`), JSON.stringify(profile));
const self = new Map<string, number>();
let total = 0;
for (const node of profile.nodes) {
  const f = node.callFrame;
  const key = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/work\/main\//, "")}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + node.hitCount);
  if (f.functionName !== "(idle)") total += node.hitCount;
}
const top = [...self.entries()].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, 12);
for (const [k, v] of top) console.log(`${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
await gw.close();
rmSync(dir, { recursive: true, force: true });
