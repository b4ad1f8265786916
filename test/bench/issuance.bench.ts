// npm run bench:issuance — one JSON line per case: the enrollment path in-process (policy → engine → store + audit),
// CPU ms per issuance over the measured loop, next to the same signer's raw sign (the reference) measured in the same run.
// Every issuance gets a CSR of its own (fresh bytes, own name): the CSR parse and self-signature check are paid each time.
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { derBitString, derSequence, derTlv } from "../../src/asn1/der-encode.js";
import { oidDer } from "../../src/asn1/der-values.js";
import { initCaPair, type KeyAlgorithmName } from "../../src/ca/init.js";
import { validateConfig } from "../../src/config/load.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { openGateway, type Gateway } from "../../src/gateway.js";
import { cpuRatio } from "./cpu.js";
import { timed, type Measured } from "./timed.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2000);
/** Enrollments in flight at once, as a front-end under fleet load has them (1: one after another). */
const CONCURRENCY = Math.max(1, Number(process.env.BENCH_CONCURRENCY ?? 16));

type Backend = "software" | "softhsm";
type Key = "ec-p256" | "rsa-2048";

/** Requests made before the clock starts: a handful of subject keys, one CSR (own name, own bytes) per issuance. */
function csrPool(count: number): Uint8Array[] {
  const keys = Array.from({ length: 16 }, () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    return { privateKey, spki: new Uint8Array(publicKey.export({ type: "spki", format: "der" })) };
  });
  return Array.from({ length: count }, (_, i) => csrFor(keys[i % keys.length], `device-${i}.bench.example.com`));
}

const ECDSA_SHA256 = derSequence(oidDer("1.2.840.10045.4.3.2"));
/** A PKCS#10 request for one DNS name, encoded by hand (as csr-fast.ts, with the SPKI exported once per key). */
function csrFor(key: { privateKey: KeyObject; spki: Uint8Array }, name: string): Uint8Array {
  const san = derSequence(derTlv(0x82, Buffer.from(name)));
  const extReq = derSequence(oidDer("1.2.840.113549.1.9.14"), derTlv(0x31, derSequence(derSequence(oidDer("2.5.29.17"), derTlv(0x04, san)))));
  const info = derSequence(derTlv(0x02, Uint8Array.of(0)), derSequence(), key.spki, derTlv(0xa0, extReq));
  return derSequence(info, ECDSA_SHA256, derBitString(sign("sha256", info, key.privateKey)));
}

async function openCase(dir: string, backend: Backend, key: Key): Promise<Gateway> {
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
  return openGateway(config, pino({ level: "silent" }));
}

/** The target of each case, as text and as a verdict on the figures. */
function target(backend: Backend, key: Key, issue: Measured, raw: Measured): { text: string; met: boolean } {
  if (backend === "softhsm") {
    // The token's own rate bounds the engine: the engine must keep at least half of it.
    return { text: "issuances/s >= 0.5 x the token's raw sign rate (CPU-bound: issuance CPU <= 2 x raw sign CPU)", met: issue.cpuMsPerOp <= 2 * raw.cpuMsPerOp };
  }
  if (key === "ec-p256") return { text: ">= 3000 issuances/s: <= 0.333 CPU ms per issuance", met: issue.cpuMsPerOp <= 0.333 };
  // RSA signing dominates: the engine's own share keeps the P-256 budget on top of it.
  return { text: "engine overhead (issuance CPU - raw sign CPU) <= 0.3 ms", met: issue.cpuMsPerOp - raw.cpuMsPerOp <= 0.3 };
}

async function engineCase(backend: Backend, key: Key) {
  const dir = mkdtempSync(join(tmpdir(), "gw-bench-"));
  const gw = await openCase(dir, backend, key);
  try {
    const signer = gw.cas.issuing[0].signer;
    const tbs = Buffer.alloc(600, 7);
    const raw = await timed(async () => {
      await signer.sign(tbs);
    }, { seconds: SECONDS, warmup: WARMUP });
    // Enough CSRs for the measured loop at up to ~1.5x the rate the raw signer allows, plus warm-up.
    const pool = csrPool(WARMUP + Math.ceil(Math.min(raw.perSecond, 6000) * SECONDS * 1.5));
    const requester = { kind: "bench", id: "1" };
    const issue = await timed(async (i) => {
      if (i >= pool.length) throw new Error("CSR pool exhausted; raise its size");
      const out = await gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester, profile: "tls-server", csr: pool[i] });
      if (out.status !== "issued") throw new Error("not issued");
    }, { concurrency: CONCURRENCY, seconds: SECONDS, warmup: WARMUP });
    const t = target(backend, key, issue, raw);
    return {
      case: `issue-${backend}-${key}`,
      ops: issue.ops,
      gateway_cpu_ms_per_op: issue.cpuMsPerOp,
      reference: `${backend} ${key} raw sign (same signer)`,
      reference_cpu_ms_per_op: raw.cpuMsPerOp,
      cpu_ratio: cpuRatio(issue.cpuMsPerOp, raw.cpuMsPerOp),
      target: t.text,
      met: t.met,
      throughput_per_s: Math.round(issue.perSecond),
      sys_cpu_share: issue.sysShare,
      issuances_per_s_cpu_bound: Math.round(1000 / issue.cpuMsPerOp),
      signer_raw_signs_per_s: Math.round(raw.perSecond),
      issuance_to_raw_sign_rate: Number((issue.perSecond / raw.perSecond).toFixed(3)),
      concurrency: CONCURRENCY,
      seconds: SECONDS,
      signer: signer.id.replace(/pin[^;]*/gi, ""),
    };
  } finally {
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const cases: Array<[Backend, Key]> = [["software", "ec-p256"], ["software", "rsa-2048"], ["softhsm", "ec-p256"], ["softhsm", "rsa-2048"]];
const only = process.env.BENCH_CASES?.split(",");
for (const [backend, key] of cases) {
  if (only && !only.includes(`${backend}-${key}`)) continue;
  console.log(JSON.stringify(await engineCase(backend, key)));
}
