import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { initSoftHsmToken } from "../../src/signers/softhsm-dev.js";
import { Child, freePort, makeTempDir, probe, removeTempDir, waitUntil } from "./child.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

export interface EstServer {
  /** `https://127.0.0.1:<port>/.well-known/est` */
  estBase: string;
  /** The root that the listener's chain (leaf + issuing CA) ends in. */
  rootPem: string;
  /** The issuing CA, for checking an answer. */
  issuingPem: string;
  user: string;
  password: string;
  /** The `gateway serve` process, for its CPU time in /proc. */
  pid: number;
  stop(): Promise<void>;
}

/**
 * The gateway as an operator runs it with an HSM: a SoftHSM2 token of its own, `gateway ca init
 * --pkcs11` (ECDSA P-256 root + issuing keys inside the token) into a fresh data dir, then `gateway
 * serve` in its own process. The dev PKI stays unused because an issuing CA exists; the dev TLS
 * certificate is issued by the HSM-backed issuing CA. One EST label with one Basic user.
 */
export async function startEstGateway(): Promise<EstServer> {
  const dir = makeTempDir("bench-est-");
  const dataDir = join(dir, "data");
  const pinFile = join(dir, "user-pin");
  writeFileSync(pinFile, "bench-user-pin\n", { mode: 0o600 });
  const { confPath } = initSoftHsmToken({ label: "gw-bench", soPin: "bench-so-pin", userPin: "bench-user-pin", tokensDir: join(dir, "tokens") });
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const base = `https://127.0.0.1:${httpsPort}`;
  const user = "bench";
  const password = "bench-est-password";
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, stringify({
    dataDir, profilesDir: join(ROOT, "profiles"),
    listen: { https: { host: "127.0.0.1", port: httpsPort }, http: { host: "127.0.0.1", port: httpPort } },
    externalUrl: { https: base, http: `http://127.0.0.1:${httpPort}` },
    log: { level: "warn" },
    est: {
      defaultLabel: "default",
      labels: [{ name: "default", profile: "device", auth: { users: [{ name: user, password: { env: "BENCH_EST_PASSWORD" } }] } }],
    },
  }));
  const env = { ...process.env, NODE_ENV: "production", SOFTHSM2_CONF: confPath, BENCH_EST_PASSWORD: password };
  const cli = [join(ROOT, "src/cli/main.ts"), "--config", configPath];
  try {
    await run(process.execPath, ["--import", "tsx", ...cli, "ca", "init", "--pkcs11", "--token", "gw-bench", "--pin-file", pinFile, "--key", "ec-p256",
      "--root-name", "root", "--issuing-name", "issuing"], { cwd: ROOT, env });
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    removeTempDir(dir);
    throw new Error(`gateway ca init --pkcs11 failed: ${err.message.split("\n")[0]}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
  const rootPath = join(dataDir, "cas", "root", "cert.pem");
  const issuingPath = join(dataDir, "cas", "issuing", "cert.pem");
  if (!existsSync(rootPath) || !existsSync(issuingPath)) {
    removeTempDir(dir);
    throw new Error(`gateway ca init did not create ${rootPath} and ${issuingPath}`);
  }
  const rootPem = readFileSync(rootPath, "utf8");
  const issuingPem = readFileSync(issuingPath, "utf8");

  // BENCH_GATEWAY_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR" profiles the gateway under load.
  const nodeArgs = (process.env.BENCH_GATEWAY_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
  const child = Child.start("gateway", process.execPath, [...nodeArgs, "--import", "tsx", cli[0], "serve", ...cli.slice(1)], {
    cwd: ROOT, logPath: join(dir, "gateway.log"), env,
  });
  const stop = async () => {
    await child.stop();
    removeTempDir(dir);
  };
  try {
    await waitUntil("gateway /healthz", child, async () => (await probe(`${base}/healthz`, { caPem: rootPem })) === 200, 60_000);
    if (existsSync(join(dataDir, "cas", "dev-root"))) throw new Error("gateway created a dev PKI although `ca init --pkcs11` made an issuing CA");
    const estBase = `${base}/.well-known/est`;
    const status = await probe(`${estBase}/cacerts`, { caPem: rootPem });
    if (status === 404) throw new Error(`gateway answers /healthz but ${estBase}/cacerts is 404: EST (protocols/est) is not mounted or not enabled\n${child.tail()}`);
    if (status !== 200) throw new Error(`gateway EST ${estBase}/cacerts: ${status === undefined ? "no answer (TLS or connection error)" : `HTTP ${status}`}\n${child.tail()}`);
    return { estBase, rootPem, issuingPem, user, password, pid: child.proc.pid!, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
