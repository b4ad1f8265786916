import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/openssl.js";
import { freePort } from "../helpers/ports.js";
import { GATEWAY_ROOT, ROOT } from "./markdown.js";

// The key ceremony in docs/operations.md, run as written: the blocks marked `<!-- ceremony:gateway -->` (the gateway
// host) and `<!-- ceremony:offline -->` (the offline root's machine) in order, in one bash -euo pipefail, with
// /var/lib/gateway and /media/usb in temporary directories and `gateway` the CLI on a config whose dataDir is that
// directory. Then a real `gateway serve` on the result must issue a certificate that chains to the offline root and
// that its OCSP responder answers for.

interface Block {
  kind: "gateway" | "offline";
  code: string;
}

function ceremonyBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)<!--\s*ceremony:(gateway|offline)\s*-->\s*$/.exec(lines[i]);
    if (!m) continue;
    const indent = m[1].length;
    if (!/^\s*```sh\s*$/.test(lines[i + 1] ?? "")) throw new Error(`docs/operations.md line ${i + 1}: a ceremony marker must be followed by a \`\`\`sh block`);
    let end = i + 2;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end])) end++;
    const code = lines.slice(i + 2, end).map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join("\n");
    out.push({ kind: m[2] as Block["kind"], code });
    i = end;
  }
  return out;
}

function run(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, timeout: o.timeout ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe("docs/operations.md key ceremony", () => {
  let server: ChildProcess | undefined;
  afterAll(() => {
    server?.kill("SIGKILL");
  });

  it("runs as written, and the gateway then issues under the offline root with a working OCSP responder", async () => {
    const blocks = ceremonyBlocks(readFileSync(join(ROOT, "docs/operations.md"), "utf8"));
    expect(blocks.map((b) => b.kind)).toEqual(["gateway", "offline", "offline", "offline", "gateway"]);

    const dir = tempDir("ceremony-");
    const data = join(dir, "var-lib-gateway");
    const usb = join(dir, "media-usb");
    const home = join(dir, "offline-home");
    for (const d of [usb, home]) mkdirSync(d, { recursive: true });
    const [httpsPort, httpPort] = [await freePort(), await freePort()];
    const config = join(dir, "config.yaml");
    writeFileSync(config, [
      `dataDir: ${data}`, `profilesDir: ${join(ROOT, "profiles")}`, "devPki: { enabled: false }",
      `listen: { https: { host: 127.0.0.1, port: ${httpsPort} }, http: { host: 127.0.0.1, port: ${httpPort} } }`, "log: { level: warn }", "",
    ].join("\n"));

    const script = [
      "set -euo pipefail",
      `gateway() { (cd ${JSON.stringify(GATEWAY_ROOT)} && ${JSON.stringify(process.execPath)} --import tsx src/cli/main.ts "$@" --config ${JSON.stringify(config)}); }`,
      ...blocks.map((b) => b.code.replaceAll("/var/lib/gateway", data).replaceAll("/media/usb", usb)),
    ].join("\n");
    writeFileSync(join(dir, "ceremony.sh"), script);
    const r = await run("bash", [join(dir, "ceremony.sh")], { cwd: dir, env: { ...process.env, HOME: home }, timeout: 120_000 });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`${join(usb, "issuing.pem")}: OK`);
    expect(r.out).toMatch(/issuing-2026\s+issuing/);
    expect(r.out).not.toMatch(/^staging-root\t/m); // gone from `gateway ca list`

    // The imported CA keeps the key gateway ca init made and now chains to the offline root.
    const issuing = join(data, "cas/issuing-2026/cert.pem");
    const subject = await run("openssl", ["x509", "-in", issuing, "-noout", "-subject", "-issuer", "-nameopt", "RFC2253"]);
    expect(subject.out).toContain("subject=O=Example,CN=Example Issuing CA 2026");
    expect(subject.out).toContain("issuer=O=Example,CN=Example Root CA");

    server = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--config", config], { cwd: GATEWAY_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    server.stdout?.on("data", (d: Buffer) => (log += d.toString()));
    server.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    const http = `http://127.0.0.1:${httpPort}`;
    let up = false;
    for (let i = 0; i < 600 && !up && server.exitCode === null; i++) {
      up = await fetch(`${http}/healthz`).then((res) => res.ok, () => false);
      if (!up) await new Promise((res) => setTimeout(res, 200));
    }
    expect(up, `the gateway did not start:\n${log}`).toBe(true);

    const token = readFileSync(join(data, "admin-token"), "utf8").trim();
    const csr = join(dir, "web.csr");
    expect((await run("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "web.key"),
      "-subj", "/CN=web.example.com", "-addext", "subjectAltName=DNS:web.example.com", "-out", csr])).code).toBe(0);
    const body = JSON.stringify({ profile: "tls-server", csr: readFileSync(csr, "utf8") });
    const enroll = await run("curl", ["-sS", "--cacert", join(usb, "root.pem"), "-H", `Authorization: Bearer ${token}`, "-H", "content-type: application/json",
      "-d", body, `https://localhost:${httpsPort}/admin/api/v1/enroll`]);
    expect(enroll.code, enroll.out).toBe(0);
    const issued = JSON.parse(enroll.out) as { certificate?: string };
    expect(issued.certificate, `${enroll.out}\n${log}`).toBeDefined();
    const web = join(dir, "web.pem");
    writeFileSync(web, issued.certificate!);

    const verify = await run("openssl", ["verify", "-CAfile", join(usb, "root.pem"), "-untrusted", issuing, web]);
    expect(verify.out).toContain(`${web}: OK`);
    const ocsp = await run("openssl", ["ocsp", "-issuer", issuing, "-cert", web, "-url", `${http}/ocsp`, "-CAfile", join(usb, "root.pem")]);
    expect(ocsp.out).toContain("Response verify OK");
    expect(ocsp.out).toContain(`${web}: good`);
    server.kill("SIGTERM");
  }, 180_000);
});
