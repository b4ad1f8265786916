import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { Child, freePort, makeTempDir, probe, removeTempDir, waitUntil } from "./child.js";
import { launchGateway } from "./gateway-process.js";

/** One OCSP server under test: where to send requests, its process, and the issuer its CertIDs name. */
export interface OcspBenchServer {
  name: "gateway" | "openssl-ocsp";
  /** POST target; GET appends "/<base64>". */
  url: string;
  pid: number;
  issuerDer: Uint8Array;
  stop(): Promise<void>;
}

export interface SerialSet {
  /** Lowercase hex, no leading zero byte, positive. */
  all: string[];
  revoked: Set<string>;
}

/** `count` random positive 16-byte serials, every `revokedEvery`-th revoked. */
export function makeSerials(count: number, revokedEvery: number): SerialSet {
  const all: string[] = [];
  const revoked = new Set<string>();
  for (let i = 0; i < count; i++) {
    const b = randomBytes(16);
    b[0] = (b[0] & 0x7f) | 0x01;
    const s = b.toString("hex");
    all.push(s);
    if (revokedEvery > 0 && i % revokedEvery === revokedEvery - 1) revoked.add(s);
  }
  return { all, revoked };
}

const pemToDer = (pem: string) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"));

/**
 * `gateway serve` (dev PKI, SQLite) with the serials inserted straight into its database as issued
 * certificates of dev-issuing (a row the size of a real one), through a second Store on the same file.
 */
export async function startOcspGateway(serials: SerialSet, validityMinutes: number): Promise<OcspBenchServer> {
  const gw = await launchGateway("bench-ocsp-", { ocsp: { responseValidityMinutes: validityMinutes } });
  try {
    await waitUntil("gateway", gw.child, async () => (await probe(`${gw.http}/healthz`)) === 200, 60_000);
    const store = new SqliteStore(join(gw.dataDir, "gateway.db"));
    const now = new Date();
    const notAfter = new Date(now.getTime() + 90 * 86_400_000).toISOString();
    const filler = randomBytes(700);
    await store.transaction(async (tx) => {
      for (const serial of serials.all) {
        await tx.insertCertificateIntent({
          serial, caName: "dev-issuing", profile: "tls-server", protocol: "admin", requestId: `bench-${serial}`, requesterKind: "admin", requesterId: "bench",
          subject: `CN=${serial}.ocsp.bench.example.com`, sans: [`dns:${serial}.ocsp.bench.example.com`], notBefore: now.toISOString(), notAfter,
          keyAlgorithm: "ec-p256", stage: "intent", tbsSha256: serial.padEnd(64, "0"), createdAt: now.toISOString(),
        });
        await tx.completeIssuance(serial, filler);
        if (serials.revoked.has(serial)) await tx.revoke(serial, 1, now.toISOString().replace(/\.\d+Z$/, ".000Z"));
      }
    });
    await store.close();
    const issuerDer = pemToDer(readFileSync(join(gw.dataDir, "cas", "dev-issuing", "cert.pem"), "utf8"));
    return { name: "gateway", url: `${gw.http}/ocsp`, pid: gw.child.proc.pid ?? 0, issuerDer, stop: () => gw.stop() };
  } catch (e) {
    await gw.stop();
    throw e;
  }
}

/**
 * `openssl ocsp -index` on an openssl CA (EC P-256 like the gateway's dev PKI) whose index.txt lists the
 * same serials with the same statuses; a delegated responder certificate signs, -nmin gives nextUpdate
 * like the gateway. OpenSSL 3.0's responder answers HTTP/1.0 and closes after each response.
 */
export async function startOpensslOcsp(serials: SerialSet, validityMinutes: number): Promise<OcspBenchServer> {
  const dir = makeTempDir("bench-ocsp-openssl-");
  const p = (f: string) => join(dir, f);
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const key = (name: string) => openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p(`${name}.key`)]);
  key("ca");
  writeFileSync(p("ca.cnf"), "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n");
  openssl(["req", "-x509", "-new", "-key", p("ca.key"), "-subj", "/O=Bench/CN=Bench OpenSSL CA", "-days", "30", "-sha256", "-out", p("ca.pem"), "-config", p("ca.cnf"), "-extensions", "v3"]);
  key("ocsp");
  writeFileSync(p("ocsp.ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\nnoCheck=ignored\n");
  openssl(["req", "-new", "-key", p("ocsp.key"), "-subj", "/O=Bench/CN=Bench OCSP Responder", "-out", p("ocsp.csr")]);
  openssl(["x509", "-req", "-in", p("ocsp.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-set_serial", "1", "-days", "30", "-sha256", "-extfile", p("ocsp.ext"), "-out", p("ocsp.pem")]);
  const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z";
  const expiry = stamp(new Date(Date.now() + 90 * 86_400_000));
  const revokedAt = stamp(new Date());
  writeFileSync(p("index.txt"), serials.all.map((s) => serials.revoked.has(s)
    ? `R\t${expiry}\t${revokedAt},keyCompromise\t${s.toUpperCase()}\tunknown\t/CN=${s}.ocsp.bench.example.com\n`
    : `V\t${expiry}\t\t${s.toUpperCase()}\tunknown\t/CN=${s}.ocsp.bench.example.com\n`).join(""));
  writeFileSync(p("index.txt.attr"), "unique_subject = no\n");
  const port = await freePort();
  const child = Child.start("openssl-ocsp", "openssl", ["ocsp", "-index", p("index.txt"), "-port", String(port), "-rsigner", p("ocsp.pem"), "-rkey", p("ocsp.key"),
    "-CA", p("ca.pem"), "-nmin", String(validityMinutes), "-ignore_err"], { cwd: dir, logPath: p("openssl.log") });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await child.stop();
    removeTempDir(dir);
  };
  try {
    // Any HTTP answer means it listens (a bare GET / is a malformed request to it).
    await waitUntil("openssl ocsp", child, async () => (await probe(`${url}/`)) !== undefined, 20_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { name: "openssl-ocsp", url, pid: child.proc.pid ?? 0, issuerDer: pemToDer(readFileSync(p("ca.pem"), "utf8")), stop };
}
