// npm run bench:pq — ML-DSA-44/65/87 CAs beside P-256 and RSA-2048, in-process through the engine (policy → build →
// lint → store + audit → sign), one JSON line per CA key; the leaf keys are of the same family and level. Each line
// has issuances per second and CPU ms per issuance (16 in flight, as bench:issuance), the same signer's raw sign rate
// (the reference), the OCSP responder's signing cost, and the sizes an operator plans for: leaf and issuing CA
// certificate, CRL with 0 and BENCH_PQ_CRL_ENTRIES (1000) entries (so bytes per entry and the fixed part), and an
// OCSP response "good" for one certificate. Software keys (node:crypto, OpenSSL 3.5); SQLite store.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { validateConfig } from "../../src/config/load.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { openGateway, type Gateway } from "../../src/gateway.js";
import { respondOcsp, type CertStatus, type StatusLookup } from "../../src/revocation/ocsp.js";
import { ocspRequest, parseResponse } from "../revocation/ocsp-helpers.js";
import { cpuRatio } from "./cpu.js";
import { timed } from "./timed.js";
import { csrPool, type BenchKey } from "./pq-csrs.js";
import { numberEnv } from "./stats.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECONDS = numberEnv("BENCH_SECONDS", 3, 0.1);
const WARMUP = numberEnv("BENCH_WARMUP", 300, 0);
const CONCURRENCY = numberEnv("BENCH_CONCURRENCY", 16, 1);
const CRL_ENTRIES = numberEnv("BENCH_PQ_CRL_ENTRIES", 1000, 1);
const KEYS: BenchKey[] = ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "ec-p256", "rsa-2048"];

// One profile for every family; no keyEncipherment (an ML-DSA key only signs).
const PROFILE = `name: pq-bench
issuer: default
protocols: [admin]
keys:
  - { type: ml-dsa, levels: [44, 65, 87] }
  - { type: ec, curves: [P-256] }
  - { type: rsa, minBits: 2048, maxBits: 2048 }
subject: { commonName: firstSan }
names:
  dns: { suffixes: [bench.example.com] }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [serverAuth]
`;

async function openCase(dir: string, key: BenchKey): Promise<Gateway> {
  const profilesDir = join(dir, "profiles");
  mkdirSync(profilesDir, { recursive: true });
  // The shipped profiles keep the configured default profile valid; the bench's own sits beside them.
  for (const f of readdirSync(join(ROOT, "profiles"))) if (f.endsWith(".yaml")) copyFileSync(join(ROOT, "profiles", f), join(profilesDir, f));
  writeFileSync(join(profilesDir, "pq-bench.yaml"), PROFILE);
  const config = validateConfig({ dataDir: join(dir, "data"), profilesDir, devPki: { keyAlgorithm: key }, log: { level: "silent" } });
  return openGateway(config, pino({ level: "silent" }));
}

function lookupIn(gw: Gateway): StatusLookup {
  return async (caName, serial): Promise<CertStatus> => {
    const rec = await gw.store.certificateStatus(serial);
    if (!rec || rec.caName !== caName || rec.stage !== "issued") return { status: "unknown" };
    if (rec.revokedAt) return { status: "revoked", revokedAt: new Date(rec.revokedAt), reason: rec.revocationReason };
    return { status: "good" };
  };
}

async function benchCase(key: BenchKey) {
  const dir = mkdtempSync(join(tmpdir(), "gw-bench-pq-"));
  const gw = await openCase(dir, key);
  try {
    const ca = gw.cas.issuing[0];
    const tbs = Buffer.alloc(600, 7);
    const raw = await timed(async () => {
      await ca.signer.sign(tbs);
    }, { seconds: SECONDS, warmup: WARMUP });
    // Enough requests for the measured loop at up to 1.5x the raw signer's rate (capped), plus warm-up.
    const pool = csrPool(key, WARMUP + Math.ceil(Math.min(raw.perSecond, 4000) * SECONDS * 1.5) + CRL_ENTRIES + 1);
    const serials: string[] = [];
    let leafBytes = 0;
    const requester = { kind: "bench", id: "pq" };
    let next = 0;
    const enrollOne = async () => {
      const i = next++;
      if (i >= pool.length) throw new Error("CSR pool exhausted; raise its size");
      const out = await gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester, profile: "pq-bench", csr: pool[i] });
      if (out.status !== "issued") throw new Error("not issued");
      serials.push(out.certificate.serial);
      leafBytes ||= out.certificate.der.length;
    };
    const issue = await timed(enrollOne, { concurrency: CONCURRENCY, seconds: SECONDS, warmup: WARMUP });
    // A short run may not have issued enough to revoke for the CRL: top up, off the clock.
    while (serials.length < CRL_ENTRIES + 1) await enrollOne();

    // OCSP: one CertID, answered "good" and signed fresh each time (no pre-signed cache), by the delegated responder.
    const lookup = lookupIn(gw);
    const good = serials[serials.length - 1];
    const request = ocspRequest(ca.certDer, [good]);
    const response = await respondOcsp(request, gw.cas.issuing, lookup, { validityMinutes: 60 });
    const parsed = parseResponse(response);
    if (parsed.certs[0]?.status !== "good") throw new Error(`OCSP answered ${parsed.certs[0]?.status ?? `status ${parsed.status}`}, not good`);
    const ocsp = await timed(async () => {
      await respondOcsp(request, gw.cas.issuing, lookup, { validityMinutes: 60 });
    }, { seconds: Math.min(SECONDS, 2), warmup: 50 });

    const crl0 = (await gw.crls.publish(ca)).der.length;
    const revoked = await gw.revocation.revokeMany(serials.slice(0, CRL_ENTRIES), 1, "bench");
    if (revoked.length !== CRL_ENTRIES) throw new Error(`revoked ${revoked.length} of ${CRL_ENTRIES}`);
    const crlN = (await gw.crls.publish(ca)).der.length;

    return {
      case: `issue-software-${key}`,
      ops: issue.ops,
      gateway_cpu_ms_per_op: issue.cpuMsPerOp,
      reference: `${key} raw sign of 600 bytes (same signer)`,
      reference_cpu_ms_per_op: raw.cpuMsPerOp,
      cpu_ratio: cpuRatio(issue.cpuMsPerOp, raw.cpuMsPerOp),
      target: "informative: ML-DSA beside P-256 and RSA-2048",
      met: null,
      throughput_per_s: Math.round(issue.perSecond),
      issuances_per_s_cpu_bound: Math.round(1000 / issue.cpuMsPerOp),
      signer_raw_signs_per_s: Math.round(raw.perSecond),
      ocsp_sign_cpu_ms_per_response: ocsp.cpuMsPerOp,
      leaf_cert_bytes: leafBytes,
      issuing_ca_cert_bytes: ca.certDer.length,
      crl_0_bytes: crl0,
      [`crl_${CRL_ENTRIES}_bytes`]: crlN,
      crl_bytes_per_entry: Math.round(((crlN - crl0) / CRL_ENTRIES) * 10) / 10,
      ocsp_good_response_bytes: response.length,
      concurrency: CONCURRENCY,
      seconds: SECONDS,
      signer: ca.signer.algorithm,
    };
  } finally {
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.env.BENCH_CASES?.split(",");
for (const key of KEYS) {
  if (only && !only.includes(key)) continue;
  console.log(JSON.stringify(await benchCase(key)));
}
