import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchServer, BenchServerOptions } from "./acme-servers.js";
import { Child, freePort, makeTempDir, probe, removeTempDir, waitUntil } from "./child.js";

/**
 * Pebble (Debian package `pebble`) with pebble-challtestsrv as its DNS server, whose A answer is
 * 127.0.0.1 for every name. Pebble's test-only habits are turned off so it is measured doing the
 * same work as the gateway: no validation sleeps, no rejected good nonces, no reused authorizations.
 */
export async function startPebble(o: BenchServerOptions): Promise<BenchServer> {
  const dir = makeTempDir("bench-pebble-");
  const children: Child[] = [];
  const stop = async () => {
    for (const c of children.reverse()) await c.stop();
    removeTempDir(dir);
  };
  try {
    // Throwaway HTTPS identity for Pebble's listener, made fresh per run and deleted with the dir.
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
      "-days", "2", "-subj", "/CN=pebble bench", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
    const caPem = readFileSync(join(dir, "cert.pem"), "utf8");
    const [port, mgmtPort, tlsPort, dnsPort, challMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];

    // Only its DNS server: its own http-01/tls-alpn-01 responders would take ports the bench needs.
    const chall = Child.start("pebble-challtestsrv", "pebble-challtestsrv", [
      "-dns01", `127.0.0.1:${dnsPort}`, "-management", `127.0.0.1:${challMgmtPort}`,
      "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
    ], { logPath: join(dir, "challtestsrv.log") });
    children.push(chall);
    await waitUntil("pebble-challtestsrv", chall, async () => (await probe(`http://127.0.0.1:${challMgmtPort}/`)) !== undefined, 10_000);

    writeFileSync(join(dir, "pebble.json"), JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`, managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: join(dir, "cert.pem"), privateKey: join(dir, "key.pem"),
        httpPort: o.http01Port, tlsPort, ocspResponderURL: "", externalAccountBindingRequired: false,
      },
    }));
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PEBBLE_")));
    Object.assign(env, { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" });
    if (o.skipValidation) env.PEBBLE_VA_ALWAYS_VALID = "1";
    const pebble = Child.start("pebble", "pebble", ["-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dnsPort}`], { logPath: join(dir, "pebble.log"), env });
    children.push(pebble);
    const directoryUrl = `https://127.0.0.1:${port}/dir`;
    await waitUntil("pebble directory", pebble, async () => (await probe(directoryUrl, { caPem })) === 200, 20_000);
    if (pebble.proc.pid === undefined) throw new Error(`pebble has no pid: ${pebble.failure()}`);
    return { name: "pebble", directoryUrl, caPem, pid: pebble.proc.pid, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
