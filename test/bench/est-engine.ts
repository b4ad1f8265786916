import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { initCaPair } from "../../src/ca/init.js";
import { validateConfig } from "../../src/config/load.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { openGateway } from "../../src/gateway.js";
import { initSoftHsmToken } from "../../src/signers/softhsm-dev.js";
import { makeTempDir, removeTempDir } from "./child.js";
import { selfCpuMs } from "./cpu.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface EngineRate {
  issuancesPerSecond: number;
  issued: number;
  seconds: number;
  signer: string;
  /** This process's CPU milliseconds per issuance over the window (the engine alone, no HTTP/TLS/EST). */
  cpuMsPerIssuance: number;
}

/**
 * The core's issuance rate, in this process, as issuance.bench.ts measures it (policy + build + lint
 * + sign + store + audit through `EnrollmentService.enroll`, one after another): a SoftHSM2 token of
 * its own with an ECDSA P-256 CA pair made by `initCaPair` (what `gateway ca init --pkcs11` runs), the
 * `device` profile and an `est-user` requester as the EST front-end sends them, one distinct CSR per
 * issuance from `csrs` (cycled if the window outlasts them).
 *
 * Call it before anything else in the process loads the PKCS#11 module: SoftHSM reads SOFTHSM2_CONF once.
 */
export async function measureEngine(o: { warmupSeconds: number; seconds: number; csrs: Uint8Array[] }): Promise<EngineRate> {
  const dir = makeTempDir("bench-est-engine-");
  const dataDir = join(dir, "data");
  mkdirSync(join(dataDir, "cas"), { recursive: true });
  const { confPath, modulePath } = initSoftHsmToken({ label: "gw-bench-engine", soPin: "bench-so-pin", userPin: "bench-user-pin", tokensDir: join(dir, "tokens") });
  process.env.SOFTHSM2_CONF = confPath;
  process.env.GW_BENCH_ENGINE_PIN = "bench-user-pin";
  await initCaPair({
    casDir: join(dataDir, "cas"), rootName: "root", issuingName: "issuing", rootSubject: "CN=Bench Root", issuingSubject: "CN=Bench Issuing",
    keyAlgorithm: "ec-p256", httpBase: "http://127.0.0.1:8080",
    pkcs11: { module: modulePath, tokenLabel: "gw-bench-engine", pin: "bench-user-pin", pinRef: { env: "GW_BENCH_ENGINE_PIN" } },
  });
  const config = validateConfig({ dataDir, profilesDir: join(ROOT, "profiles"), log: { level: "silent" } });
  const gw = await openGateway(config, pino({ level: "silent" }));
  try {
    const signer = gw.cas.issuing[0].signer;
    if (!signer.id.startsWith("pkcs11:")) throw new Error(`engine bench: the issuing CA signs with ${signer.id}, not the SoftHSM key`);
    const requester = { kind: "est-user", id: "bench" };
    let n = 0;
    const issueOne = async () => {
      const out = await gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "est", requester, profile: "device", csr: o.csrs[n++ % o.csrs.length] });
      if (out.status !== "issued") throw new Error(`engine bench: request ${out.status}: ${out.reason}`);
    };
    const warmEnd = performance.now() + o.warmupSeconds * 1000;
    while (performance.now() < warmEnd) await issueOne();
    let issued = 0;
    const cpu0 = selfCpuMs();
    const start = performance.now();
    const end = start + o.seconds * 1000;
    while (performance.now() < end) {
      await issueOne();
      issued++;
    }
    const seconds = (performance.now() - start) / 1000;
    const cpuMsPerIssuance = Math.round(((selfCpuMs() - cpu0) / issued) * 1000) / 1000;
    return { issuancesPerSecond: issued / seconds, issued, seconds, signer: signer.id.replace(/pin[^;]*/gi, ""), cpuMsPerIssuance };
  } finally {
    await gw.close();
    removeTempDir(dir);
  }
}
