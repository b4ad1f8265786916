// npm run bench — one JSON line per case: engine issuances/s (policy + build + lint + sign + store)
// next to raw node:crypto signatures/s for the same key type, measured in the same run.
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { initCaPair, type KeyAlgorithmName } from "../../src/ca/init.js";
import { validateConfig } from "../../src/config/load.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { openGateway } from "../../src/gateway.js";
import { makeCsr } from "../helpers/openssl.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

async function timed(fn: () => Promise<void> | void): Promise<{ ops: number; perSecond: number }> {
  for (let i = 0; i < 300; i++) await fn(); // warm-up: JIT and SQLite page cache
  let ops = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    await fn();
    ops++;
  }
  return { ops, perSecond: ops / ((performance.now() - start) / 1000) };
}

function rawNodeSigns(key: "ec-p256" | "rsa-2048"): Promise<{ ops: number; perSecond: number }> {
  const { privateKey } = key === "ec-p256" ? generateKeyPairSync("ec", { namedCurve: "prime256v1" }) : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const tbs = Buffer.alloc(600, 7);
  return timed(() => {
    sign("sha256", tbs, privateKey);
  });
}

async function engineCase(backend: "software" | "softhsm", key: "ec-p256" | "rsa-2048") {
  const dir = mkdtempSync(join(tmpdir(), "gw-bench-"));
  const dataDir = join(dir, "data");
  mkdirSync(join(dataDir, "cas"), { recursive: true });
  if (backend === "softhsm") {
    const { initSoftHsmToken } = await import("../../src/signers/softhsm-dev.js");
    const { confPath, modulePath } = initSoftHsmToken({ label: "bench", soPin: "bench-so", userPin: "bench-pin", tokensDir: join(dir, "tokens") });
    process.env.SOFTHSM2_CONF = confPath;
    process.env.GW_BENCH_PIN = "bench-pin";
    await initCaPair({
      casDir: join(dataDir, "cas"), rootName: "root", issuingName: "issuing", rootSubject: "CN=Bench Root", issuingSubject: "CN=Bench Issuing",
      keyAlgorithm: key as KeyAlgorithmName, httpBase: "http://127.0.0.1:8080",
      pkcs11: { module: modulePath, tokenLabel: "bench", pin: "bench-pin", pinRef: { env: "GW_BENCH_PIN" } },
    });
  }
  const config = validateConfig({ dataDir, profilesDir: join(ROOT, "profiles"), devPki: { keyAlgorithm: key }, log: { level: "silent" } });
  const gw = await openGateway(config, pino({ level: "silent" }));
  const { der } = makeCsr(dir, "bench", { sans: ["DNS:bench.example.com"], key: "ec-p256" });
  const requester = { kind: "bench", id: "1" };
  const r = await timed(async () => {
    const out = await gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester, profile: "tls-server", csr: der });
    if (out.status !== "issued") throw new Error("not issued");
  });
  const signer = gw.cas.issuing[0].signer;
  const tbs = Buffer.alloc(600, 7);
  const raw = await timed(async () => {
    await signer.sign(tbs);
  });
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
  return { r, raw, signerId: signer.id };
}

const cases: Array<["software" | "softhsm", "ec-p256" | "rsa-2048"]> = [
  ["software", "ec-p256"], ["software", "rsa-2048"], ["softhsm", "ec-p256"], ["softhsm", "rsa-2048"],
];
const only = process.env.BENCH_CASES?.split(",");
for (const [backend, key] of cases) {
  if (only && !only.includes(`${backend}-${key}`)) continue;
  const { r, raw, signerId } = await engineCase(backend, key);
  const node = await rawNodeSigns(key);
  console.log(JSON.stringify({
    case: `issue-${backend}-${key}`,
    issuances_per_s: Math.round(r.perSecond),
    signer_raw_signs_per_s: Math.round(raw.perSecond),
    node_crypto_signs_per_s: Math.round(node.perSecond),
    ratio_issuance_to_node_sign: Number((r.perSecond / node.perSecond).toFixed(3)),
    ops: r.ops, seconds: SECONDS, signer: signerId.replace(/pin[^;]*/gi, ""),
  }));
}
