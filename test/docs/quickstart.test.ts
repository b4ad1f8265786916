import { execFile } from "node:child_process";
import { accessSync, constants, cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/openssl.js";
import { freePort } from "../helpers/ports.js";
import { GATEWAY_ROOT, ROOT } from "./markdown.js";
import { gatewayConfigOf, overlayScript, quickstartBlocks, quickstartScript } from "./quickstart.js";

// The README's quick start, extracted and run as written: bash -euo pipefail in a fresh directory holding what a
// clone has there (profiles/), against a real `gateway serve` on free ports, with the real certbot, curl, jq and
// openssl. Only GW, GW_HTTP and LAB_PORT differ from a reader's run: the blocks default them to 8443, 8080, 5002.

// QUICKSTART_README points at another README (while editing one).
const README = process.env.QUICKSTART_README ?? join(ROOT, "README.md");
/** The Debian package of each program the quick start runs (its prerequisites line installs them). */
const PROGRAMS = { certbot: "certbot", curl: "curl", jq: "jq", openssl: "openssl" } as const;

function requirePrograms(): void {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  for (const [p, pkg] of Object.entries(PROGRAMS)) {
    const found = dirs.some((d) => {
      try {
        accessSync(join(d, p), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (!found) throw new Error(`${p} is not installed: the quick start needs it (apt-get install ${pkg})`);
  }
}

describe("README quick start", () => {
  const markdown = readFileSync(README, "utf8");
  const blocks = quickstartBlocks(markdown);
  let pidFile: string | undefined;

  afterAll(() => {
    // The script stops its gateway on exit; this is for a script killed by the timeout.
    if (pidFile && existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
      } catch {
        // already gone
      }
    }
  });

  it("has the install command, the test command and the quick start blocks the issue asks for", () => {
    const fenced = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trim());
    expect(fenced).toContain("npm ci && npm run build && npm start");
    expect(fenced).toContain("npm test");
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    for (const s of ["build", "start", "test"]) expect(pkg.scripts[s], `package.json has no "${s}" script`).toBeTruthy();
    expect(readFileSync(join(ROOT, ".ci/run"), "utf8")).toMatch(/^npm test$/m);

    expect(blocks.filter((b) => b.kind === "gateway").map(gatewayConfigOf)).toEqual([undefined, "lab.yaml"]);
    const code = blocks.filter((b) => b.kind === "run").map((b) => b.code).join("\n");
    for (const needed of ["admin/api/v1/enroll", "openssl ocsp", "/revoke", "/crl/", "httpPort:", "hostOverrides:", "certbot certonly", "REQUESTS_CA_BUNDLE", "--server"]) {
      expect(code, `the quick start has no ${needed}`).toContain(needed);
    }
    // The OCSP example makes every file it uses.
    for (const file of ["issuing.pem", "root.pem", "web.pem"]) expect(code).toMatch(new RegExp(`(-out|>) ${file.replace(".", "\\.")}`));
  });

  it("runs as written: admin API issuance, OCSP good, revocation, the CRL, certbot over http-01", async () => {
    requirePrograms();
    const dir = tempDir("quickstart-");
    cpSync(join(ROOT, "profiles"), join(dir, "profiles"), { recursive: true });
    const [httpsPort, httpPort, labPort] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(join(dir, ".quickstart-overlay.mjs"), overlayScript(GATEWAY_ROOT, httpsPort, httpPort));
    writeFileSync(join(dir, ".quickstart.sh"), quickstartScript(blocks));
    pidFile = join(dir, ".quickstart-gateway.pid");
    const env = {
      ...process.env,
      GW: `https://localhost:${httpsPort}`, GW_HTTP: `http://localhost:${httpPort}`, LAB_PORT: String(labPort),
      QS_ROOT: GATEWAY_ROOT, QS_NODE: process.execPath, QS_OVERLAY: join(dir, ".quickstart-overlay.mjs"), QS_LOG: join(dir, ".quickstart-gateway.log"), QS_PIDFILE: pidFile,
    };
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile("bash", [join(dir, ".quickstart.sh")], { cwd: dir, env, timeout: 170_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: `${stdout}\n--- stderr ---\n${stderr}` });
      });
    });
    const log = existsSync(env.QS_LOG) ? readFileSync(env.QS_LOG, "utf8").split("\n").slice(-30).join("\n") : "(no gateway log)";
    expect(r.code, `${r.out}\n--- gateway log (end) ---\n${log}`).toBe(0);

    const out = r.out;
    expect(out).toMatch(/^tls-server$/m);
    expect(out).toContain("subject=CN = web.example.com");
    expect(out).toContain("DNS:web.example.com");
    const good = out.indexOf("web.pem: good");
    const revoked = out.indexOf("web.pem: revoked");
    expect(good, out).toBeGreaterThan(-1);
    expect(revoked, out).toBeGreaterThan(good);
    expect(out.match(/Response verify OK/g)).toHaveLength(2);
    const serial = JSON.parse(readFileSync(join(dir, "web.json"), "utf8")).serial as string;
    expect(out.toLowerCase()).toContain(`serial number: ${serial.toLowerCase()}`);
    expect(out).toContain("Key Compromise");
    expect(out).toMatch(/^verify OK$/m);
    expect(out).toContain("Successfully received certificate");
    expect(out).toContain("subject=CN = www.lab.example.com");
    expect(out).toContain("DNS:www.lab.example.com");
    // certbot's certificate chains to the same development root the quick start fetched.
    const verify = await new Promise<string>((resolve) => {
      execFile("openssl", ["verify", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "certbot/live/www.lab.example.com/chain.pem"), join(dir, "certbot/live/www.lab.example.com/cert.pem")], (_e, so, se) => resolve(`${so}${se}`));
    });
    expect(verify).toContain(": OK");
  }, 180_000);
});
