import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkConfig } from "../../src/config/check.js";
import { closest } from "../../src/config/did-you-mean.js";
import { loadConfig } from "../../src/config/load.js";
import { runGatewayCli } from "../helpers/cli.js";
import { ROOT } from "../helpers/gateway.js";
import { openssl, tempDir } from "../helpers/openssl.js";

/** A config directory outside the repository: the shipped profiles, a config file, and any extra files. */
function setup(yaml: string, files: Record<string, string> = {}): { dir: string; cfg: string } {
  const dir = tempDir("check-config-");
  cpSync(join(ROOT, "profiles"), join(dir, "profiles"), { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const cfg = join(dir, "gateway.yaml");
  writeFileSync(cfg, `dataDir: ./data\nprofilesDir: ./profiles\n${yaml.includes("log:") ? "" : "log: { level: silent }\n"}${yaml}`);
  return { dir, cfg };
}

/** `gateway check-config` on it: exit code and the problem lines. */
async function check(cfg: string): Promise<{ code: number; problems: string[]; stderr: string; stdout: string }> {
  const r = await runGatewayCli(["check-config", "--config", cfg]);
  return { code: r.code, stderr: r.stderr, stdout: r.stdout, problems: r.stderr.split("\n").filter((l) => l.startsWith("  - ")).map((l) => l.slice(4)) };
}

const caPem = (() => {
  const d = tempDir();
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(d, "k.pem"), "-out", join(d, "c.pem"), "-subj", "/CN=Anchor", "-days", "2"]);
  return readFileSync(join(d, "c.pem"), "utf8");
})();

const children: Array<{ kill(sig: NodeJS.Signals): boolean }> = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
});

describe("check-config refuses what serve would refuse, every problem at once (exit 2)", () => {
  it("a clean config outside the repository passes, exit 0, and creates nothing", async () => {
    const { dir, cfg } = setup("listen: { https: { host: 127.0.0.1, port: 0 }, http: { host: 127.0.0.1, port: 0 } }\n");
    const r = await check(cfg);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("is valid; 5 profiles");
    expect(r.stdout).toContain(`data dir ${join(dir, "data")}: no CA yet`);
    expect(r.stderr).toBe("");
    expect(existsSync(join(dir, "data"))).toBe(false);
  });

  it("ACME endpoint defaultProfile that does not exist (the certbot invalidProfile crash)", async () => {
    const r = await check(setup("acme:\n  endpoints:\n    - name: default\n      defaultProfile: tls-servr\n").cfg);
    expect(r.code).toBe(2);
    expect(r.problems).toEqual([expect.stringMatching(/^acme\.endpoints\.default\.defaultProfile: no profile named tls-servr \(did you mean tls-server\?\)/)]);
  });

  it("global defaultProfile that does not exist", async () => {
    const r = await check(setup("defaultProfile: devcie\n").cfg);
    expect(r.code).toBe(2);
    expect(r.problems[0]).toMatch(/^defaultProfile: no profile named devcie \(did you mean device\?\)/);
    // ACME endpoints without their own defaultProfile fall back to it: named as well.
    expect(r.problems.some((p) => p.startsWith("acme.endpoints.default"))).toBe(true);
  });

  it("a profile whose issuer is not a configured CA", async () => {
    const { dir, cfg } = setup("");
    const file = join(dir, "profiles", "tls-client.yaml");
    writeFileSync(file, readFileSync(file, "utf8").replace("issuer: default", "issuer: issuing-2027"));
    const r = await check(cfg);
    expect(r.code).toBe(2);
    expect(r.problems).toEqual([expect.stringMatching(/^profile tls-client: issuer issuing-2027 is not a configured CA; CAs: dev-root, dev-issuing$/)]);
  });

  it("endpoint profiles not offered over that endpoint's protocol (SCEP, EST, CMP, ACME)", async () => {
    const r = await check(setup([
      "scep:\n  endpoints:\n    - { name: default, profile: tls-server }",
      "est:\n  labels:\n    - { name: default, profile: device-attested }",
      "cmp:\n  labels:\n    - { name: default, profile: device-attested }",
      "acme:\n  endpoints:\n    - { name: default, profiles: [tls-client] }",
    ].join("\n") + "\n").cfg);
    expect(r.code).toBe(2);
    expect(r.problems).toEqual(expect.arrayContaining([
      "scep.endpoints.default.profile: profile tls-server is not offered over scep (its protocols: acme, est, cmp, admin)",
      "est.labels.default.profile: profile device-attested is not offered over est (its protocols: acme)",
      "cmp.labels.default.profile: profile device-attested is not offered over cmp (its protocols: acme)",
      "acme.endpoints.default.profiles: profile tls-client is not offered over acme (its protocols: est, scep, cmp, admin)",
    ]));
  });

  it("referenced files that cannot be read: trust anchors, TLS files, PIN and secret files, attestation roots", async () => {
    const { dir, cfg } = setup([
      "tls: { certFile: tls/missing.pem, keyFile: tls/missing-key.pem }",
      "est:\n  labels:\n    - name: default\n      profile: device\n      auth: { trustAnchors: [anchors/missing.pem, anchors/not-a-cert.pem] }",
      "cmp:\n  labels:\n    - { name: default, profile: device, trustAnchors: [anchors/missing.pem] }",
      "admin:\n  tokens: [{ name: ci, token: { file: secrets/ci-token } }, { name: ops, token: { env: GW_CHECK_UNSET_VARIABLE } }]",
      "scep:\n  endpoints:\n    - { name: default, profile: device, ra: { certFile: ra/ra.pem, key: { type: software, keyFile: ra/ra-key.pem, algorithm: rsa-pkcs1-sha256 } } }",
    ].join("\n") + "\n", { "anchors/not-a-cert.pem": "hello\n" });
    const roots = join(dir, "profiles", "device-attested.yaml");
    writeFileSync(roots, readFileSync(roots, "utf8").replace(/apple: \[[^\]]*\]|apple:\s*\n\s*- [^\n]+/, "apple: [attestation-roots/gone.pem]"));
    const r = await check(cfg);
    expect(r.code).toBe(2);
    const at = (p: string) => join(dir, p);
    expect(r.problems).toEqual(expect.arrayContaining([
      `tls.certFile: cannot read ${at("tls/missing.pem")} (ENOENT)`,
      `tls.keyFile: cannot read ${at("tls/missing-key.pem")} (ENOENT)`,
      `est.labels.default.auth.trustAnchors.0: cannot read ${at("anchors/missing.pem")} (ENOENT)`,
      `est.labels.default.auth.trustAnchors.1: ${at("anchors/not-a-cert.pem")} holds no PEM certificate`,
      `cmp.labels.default.trustAnchors.0: cannot read ${at("anchors/missing.pem")} (ENOENT)`,
      `admin.tokens.ci.token: cannot read ${at("secrets/ci-token")} (ENOENT)`,
      "admin.tokens.ops.token: environment variable GW_CHECK_UNSET_VARIABLE is not set",
      `scep.endpoints.default.ra.certFile: cannot read ${at("ra/ra.pem")} (ENOENT)`,
      `scep.endpoints.default.ra.key.keyFile: cannot read ${at("ra/ra-key.pem")} (ENOENT)`,
      expect.stringMatching(/^profile device-attested \(.*device-attested\.yaml\): attestation\.roots\.apple: cannot read .*gone\.pem \(ENOENT\)$/),
    ]));
    // Never a secret's value, and no listing stops at the first problem.
    expect(r.problems.length).toBeGreaterThanOrEqual(10);
  });

  it("unknown keys get 'did you mean' when a known key is close, in the config and in profiles", async () => {
    const { dir, cfg } = setup("crl: { validityHourz: 3 }\nexternalUrls: {}\nfrobnicate: 1\n");
    let r = await check(cfg);
    expect(r.code).toBe(2);
    expect(r.problems).toEqual(expect.arrayContaining([
      'crl: Unrecognized key: "validityHourz" (validityHourz: did you mean validityHours?)',
      expect.stringMatching(/^\(top level\): Unrecognized keys?: .*externalUrls: did you mean externalUrl\?/),
    ]));
    expect(r.stderr).not.toMatch(/frobnicate: did you mean/);
    writeFileSync(cfg, "dataDir: ./data\nprofilesDir: ./profiles\n");
    writeFileSync(join(dir, "profiles", "extra.yaml"), "name: extra\nprotocols: [admin]\nkeys: [{ type: ec }]\nnames: { dns: { suffixes: [example.com] } }\nvalidity: { default: 30d, max: 60d }\nkeyUsage: [digitalSignature]\nextendedKeyUsag: [serverAuth]\n");
    r = await check(cfg);
    expect(r.code).toBe(2);
    expect(r.problems).toEqual([expect.stringMatching(/^profile .*extra\.yaml: \(top level\): Unrecognized key: "extendedKeyUsag" \(extendedKeyUsag: did you mean extendedKeyUsage\?\)$/)]);
    expect(closest("port", ["host", "port"])).toBeUndefined(); // itself is not a suggestion
    expect(closest("hots", ["host", "port"])).toBe("host");
  });

  it("a broken profile file is one problem, not also 'missing' wherever its name is used; other missing names still are", async () => {
    const { dir, cfg } = setup("scep:\n  endpoints:\n    - { name: default, profile: devcie }\n");
    const file = join(dir, "profiles", "tls-server.yaml");
    writeFileSync(file, readFileSync(file, "utf8").replace("keyUsage:", "keyUsages:"));
    const r = await check(cfg);
    expect(r.code).toBe(2);
    const [ofFile, others] = [r.problems.filter((p) => p.startsWith("profile ")), r.problems.filter((p) => !p.startsWith("profile "))];
    expect(ofFile.every((p) => p.startsWith(`profile ${file}: `))).toBe(true);
    expect(ofFile).toEqual(expect.arrayContaining([expect.stringMatching(/keyUsages: did you mean keyUsage\?/)]));
    // defaultProfile (tls-server, the broken file's name) is not reported missing; devcie is.
    expect(others).toEqual([expect.stringMatching(/^scep\.endpoints\.default\.profile: no profile named devcie \(did you mean device\?\)/)]);
  });

  it("--json gives one document with ok and every problem", async () => {
    const r = await runGatewayCli(["check-config", "--json", "--config", setup("defaultProfile: nope\n").cfg]);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as { ok: boolean; problems: string[] };
    expect(doc.ok).toBe(false);
    expect(doc.problems[0]).toMatch(/^defaultProfile: no profile named nope/);
  });
});

describe("relative paths resolve against the config file's directory", () => {
  it("dataDir, profilesDir, TLS, trust anchors and { file } secrets, whatever the working directory", () => {
    const { dir, cfg } = setup("tls: { certFile: tls/c.pem, keyFile: /abs/k.pem }\nest:\n  labels:\n    - { name: default, profile: device, auth: { trustAnchors: [anchors/a.pem] } }\nadmin:\n  tokens: [{ name: ci, token: { file: secrets/t } }]\n");
    const { config } = loadConfig(cfg);
    expect(config.dataDir).toBe(join(dir, "data"));
    expect(config.profilesDir).toBe(join(dir, "profiles"));
    expect(config.tls).toEqual({ certFile: join(dir, "tls/c.pem"), keyFile: "/abs/k.pem" });
    expect(config.est.labels[0].auth.trustAnchors).toEqual([join(dir, "anchors/a.pem")]);
    expect(config.admin.tokens[0].token).toEqual({ file: join(dir, "secrets/t") });
    expect(loadConfig(cfg, { dataDir: "rel" }).config.dataDir).toBe(join(process.cwd(), "rel"));
  });

  it("check-config run from another directory finds the files next to the config", async () => {
    const { cfg } = setup("est:\n  labels:\n    - { name: default, profile: device, auth: { trustAnchors: [anchors/a.pem] } }\n", { "anchors/a.pem": caPem });
    const r = await check(cfg); // the CLI runs with the repository as its working directory
    expect(r.code, r.stderr).toBe(0);
  });
});

describe("serve validates everything before it creates anything", () => {
  it("a refused config exits 2 naming every problem and leaves the data dir absent", async () => {
    const { dir, cfg } = setup("defaultProfile: tls-servr\nacme:\n  endpoints:\n    - { name: default, defaultProfile: tls-servr }\n");
    const r = await runGatewayCli(["serve", "--config", cfg]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/configuration refused: 2 problems \(nothing was created\)/);
    expect(r.stderr).toContain("acme.endpoints.default.defaultProfile: no profile named tls-servr");
    expect(existsSync(join(dir, "data"))).toBe(false);
    expect(r.stdout).toBe("");
  });

  it("a profile with an unknown issuer: refused before any dev PKI is made (data dir absent)", async () => {
    const { dir, cfg } = setup("");
    writeFileSync(join(dir, "profiles", "x.yaml"), readFileSync(join(dir, "profiles", "tls-client.yaml"), "utf8").replace("name: tls-client", "name: x").replace("issuer: default", "issuer: nowhere"));
    const r = await runGatewayCli(["serve", "--config", cfg]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("profile x: issuer nowhere is not a configured CA");
    expect(existsSync(join(dir, "data"))).toBe(false);
  });

  it("says on stderr which data dir it creates a PKI in, warns about a localhost externalUrl on 0.0.0.0, keeps stdout for logs", async () => {
    const { dir, cfg } = setup("listen: { https: { host: 0.0.0.0, port: 0 }, http: { host: 127.0.0.1, port: 0 } }\nlog: { level: info }\n");
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "serve", "--config", cfg], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
    await new Promise<void>((res, rej) => {
      const t = setInterval(() => {
        if (stderr.includes("enrollment gateway ready")) {
          clearInterval(t);
          res();
        }
      }, 100);
      void exited.then((code) => rej(new Error(`serve exited ${code}: ${stderr}`)));
    });
    child.kill("SIGTERM");
    await exited;
    const lines = stderr.split("\n");
    const warnings = lines.filter((l) => l.startsWith("warning: "));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/externalUrl\.https is https:\/\/localhost:0 while listen\.https binds 0\.0\.0\.0/);
    expect(warnings[0]).not.toMatch(/externalUrl\.http is/); // the HTTP listener binds loopback only
    expect(lines).toContain(`creating a new development PKI in ${join(dir, "data")} (no CA in ${join(dir, "data", "cas")}; software keys: for production see \`gateway ca init --pkcs11\`)`);
    // The banner is on stderr; stdout holds only JSON log lines.
    expect(stdout).not.toContain("enrollment gateway ready");
    for (const l of stdout.split("\n").filter(Boolean)) expect(() => JSON.parse(l), l).not.toThrow();
    expect(readdirSync(join(dir, "data"))).toContain("cas");

    // The next start names the data dir it uses instead.
    const { servePreflight } = await import("../../src/cli/serve-preflight.js");
    const out: string[] = [];
    expect(servePreflight(loadConfig(cfg).config, (l) => out.push(l))).toBe(true);
    expect(out).toContain(`using data dir ${join(dir, "data")} (CAs: dev-issuing, dev-root)`);
  });

  it("checkConfig is pure: it creates no data dir and no database", () => {
    const { dir, cfg } = setup("");
    const r = checkConfig(loadConfig(cfg).config);
    expect(r.problems).toEqual([]);
    expect(r.cas.createsDevPki).toBe(true);
    expect(existsSync(join(dir, "data"))).toBe(false);
  });
});
