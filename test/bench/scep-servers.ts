import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Child, freePort, makeTempDir, probe, removeTempDir, waitUntil } from "./child.js";
import { launchGateway } from "./gateway-process.js";

const run = promisify(execFile);

/** A SCEP server under load, in its own process, stopped at the end. */
export interface ScepBenchServer {
  name: "gateway" | "scepserver";
  /** `http://127.0.0.1:<port>/scep`: the URL a device is configured with (operations go in the query). */
  url: string;
  /** What an issued certificate must verify against: the trust anchor, plus intermediates when there are any. */
  rootPem: string;
  intermediatesPem?: string;
  /** A path only this server's command line holds. */
  marker: string;
  /** The server process, for its CPU time in /proc. */
  pid: number;
  /** The end of its log, to show with failed enrollments. */
  logTail(lines?: number): string;
  /** Free-form facts for the report (key sizes, store). */
  notes: Record<string, string | number>;
  stop(): Promise<void>;
}

/** `GET <url>?operation=GetCACaps` answers 200: the SCEP service, not just the listener, is up. */
async function scepReady(url: string): Promise<boolean> {
  return (await probe(`${url}?operation=GetCACaps`)) === 200;
}

/**
 * The gateway as an operator runs it: `gateway serve` in its own process, a fresh data dir (SQLite, dev PKI
 * with an ECDSA P-256 issuing CA, the RSA-2048 RA it makes for the endpoint at first start), log level warn,
 * one SCEP endpoint `default` for the `device` profile with a static challenge (read from the environment,
 * so it is in neither the config file nor the command line).
 */
export async function startScepGateway(challenge: string): Promise<ScepBenchServer> {
  const gw = await launchGateway("bench-scep-gw-", { scep: { endpoints: [{ name: "default", profile: "device", challenge: { static: { env: "BENCH_SCEP_CHALLENGE" } } }] } }, { BENCH_SCEP_CHALLENGE: challenge });
  const { child, dataDir, https, http, stop } = gw;
  try {
    await waitUntil("gateway /healthz", child, async () => (await probe(`${https}/healthz`, { insecure: true })) === 200, 60_000);
    const url = `${http}/scep`;
    const status = await probe(`${url}?operation=GetCACaps`);
    if (status === 404) throw new Error(`gateway answers /healthz but ${url}?operation=GetCACaps is 404: SCEP (protocols/scep) is not mounted or not enabled\n${child.tail()}`);
    if (status !== 200) throw new Error(`gateway ${url}?operation=GetCACaps: ${status === undefined ? "no answer" : `HTTP ${status}`}\n${child.tail()}`);
    const rootPath = join(dataDir, "cas", "dev-root", "cert.pem");
    const issuingPath = join(dataDir, "cas", "dev-issuing", "cert.pem");
    if (!existsSync(rootPath) || !existsSync(issuingPath)) throw new Error(`gateway is up but its dev PKI (${rootPath}, ${issuingPath}) is missing`);
    return {
      name: "gateway", url, marker: join(gw.dir, "config.yaml"), pid: child.proc.pid!, rootPem: readFileSync(rootPath, "utf8"), intermediatesPem: readFileSync(issuingPath, "utf8"),
      notes: { issuingKey: "ec-p256 (software)", raKey: "rsa-2048 (software)", store: "sqlite" }, logTail: (n) => child.tail(n), stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * micromdm's scepserver (Debian package `scep`) as its README runs it: `scepserver ca -init` makes the depot
 * (an RSA CA that also decrypts requests and signs answers: there is no RA), then `scepserver -depot -port
 * -challenge`; the challenge goes through SCEP_CHALLENGE_PASSWORD, the variable its -challenge flag defaults to.
 * The CA key is RSA-2048 (BENCH_SCEPSERVER_KEY_BITS), the size of the gateway's RA key, rather than its
 * default 4096, so neither server is slowed by a bigger key than the other. It listens on all interfaces
 * (it has no bind option in 2.1.0); its per-request log (with the reason of each FAILURE) goes to the log
 * file, as in production.
 */
export async function startScepserver(challenge: string, keyBits: number): Promise<ScepBenchServer> {
  const dir = makeTempDir("bench-scepserver-");
  const depot = join(dir, "depot");
  try {
    await run("scepserver", ["ca", "-init", "-depot", depot, "-keySize", String(keyBits), "-organization", "scep bench"], { cwd: dir });
  } catch (e) {
    const err = e as Error & { code?: string; stdout?: string; stderr?: string };
    removeTempDir(dir);
    if (err.code === "ENOENT") throw new Error("scepserver is not installed (Debian package `scep`)");
    throw new Error(`scepserver ca -init failed: ${err.message.split("\n")[0]}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
  const port = await freePort();
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SCEP_")));
  env.SCEP_CHALLENGE_PASSWORD = challenge;
  const child = Child.start("scepserver", "scepserver", ["-depot", depot, "-port", String(port)], { cwd: dir, logPath: join(dir, "scepserver.log"), env });
  const stop = async () => {
    await child.stop();
    removeTempDir(dir);
  };
  try {
    const url = `http://127.0.0.1:${port}/scep`;
    await waitUntil("scepserver GetCACaps", child, () => scepReady(url), 20_000);
    return {
      name: "scepserver", url, marker: depot, pid: child.proc.pid!, rootPem: readFileSync(join(depot, "ca.pem"), "utf8"),
      notes: { caKey: `rsa-${keyBits}`, store: "file depot" }, logTail: (n) => child.tail(n), stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
