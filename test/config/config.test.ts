import { afterAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { loadConfig, readSecret, validateConfig } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import { openGateway } from "../../src/gateway.js";
import { parseProfile } from "../../src/policy/profile.js";
import { ROOT } from "../helpers/gateway.js";
import { tempDir } from "../helpers/openssl.js";

function configError(raw: unknown): string {
  try {
    validateConfig(raw);
  } catch (e) {
    expect((e as GatewayError).code).toBe("RA_ERR_CONFIG");
    return (e as Error).message;
  }
  throw new Error("expected a configuration error");
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) execFileSync("rm", ["-rf", d]);
});

describe("configuration validation names the key and the problem", () => {
  it("wrong type", () => {
    expect(configError({ listen: { https: { port: "8443" } } })).toMatch(/listen\.https\.port: .*number/i);
  });
  it("out of range", () => {
    expect(configError({ listen: { http: { port: 70000 } } })).toMatch(/listen\.http\.port: .*65535/);
  });
  it("unknown key", () => {
    expect(configError({ crl: { validityHourz: 3 } })).toMatch(/crl: .*validityHourz/);
  });
  it("bad enum", () => {
    expect(configError({ devPki: { keyAlgorithm: "dsa-1024" } })).toMatch(/devPki\.keyAlgorithm: /);
  });
  it("bad YAML file", () => {
    const d = tempDir();
    dirs.push(d);
    writeFileSync(join(d, "bad.yaml"), "listen: [unclosed\n");
    expect(() => loadConfig(join(d, "bad.yaml"))).toThrow(/not valid YAML/);
  });
  it("profiles name their own bad keys", () => {
    expect(() => parseProfile({ name: "x", protocols: ["acme"], keys: [{ type: "rsa", minBits: 1024 }], names: {}, validity: { default: "90d", max: "30d" }, keyUsage: ["digitalSignature"] }, "x.yaml"))
      .toThrow(/keys\.0\.minBits[\s\S]*validity: default must not exceed max/);
  });
  it("secrets from env and file, never inline in errors", () => {
    const d = tempDir();
    dirs.push(d);
    writeFileSync(join(d, "s"), "from-file\n");
    process.env.GW_TEST_SECRET = "from-env";
    expect(readSecret({ env: "GW_TEST_SECRET" }, "x")).toBe("from-env");
    expect(readSecret({ file: join(d, "s") }, "x")).toBe("from-file");
    expect(() => readSecret({ env: "GW_TEST_MISSING" }, "admin.tokens.ci")).toThrow(/admin\.tokens\.ci: environment variable GW_TEST_MISSING is not set/);
  });
  it("config.example.yaml is valid and `gateway check-config` accepts it", () => {
    const out = execFileSync(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "src/cli/main.ts"), "check-config", "--config", join(ROOT, "config.example.yaml")], { cwd: ROOT }).toString();
    expect(out).toContain("is valid");
  });
  it("`gateway check-config` exits non-zero and names the key", () => {
    const d = tempDir();
    dirs.push(d);
    writeFileSync(join(d, "c.yaml"), "listen:\n  https:\n    port: -1\n");
    let msg = "";
    try {
      execFileSync(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "src/cli/main.ts"), "check-config", "--config", join(d, "c.yaml")], { stdio: "pipe" });
    } catch (e) {
      msg = (e as { stderr: Buffer }).stderr.toString();
    }
    expect(msg).toMatch(/listen\.https\.port/);
  });
});

describe("first start and restart", () => {
  it("creates data, PKI, TLS and a 0600 admin token once, and reuses them on restart", async () => {
    const d = tempDir();
    dirs.push(d);
    const config = validateConfig({ dataDir: join(d, "data"), profilesDir: join(ROOT, "profiles"), log: { level: "silent" } });
    const gw1 = await openGateway(config, pino({ level: "silent" }));
    expect(gw1.createdAdminToken).toBe(true);
    expect(statSync(gw1.paths.adminToken).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, "data/cas/dev-issuing/issuing-key.pem")).mode & 0o777).toBe(0o600);
    const token = readFileSync(gw1.paths.adminToken, "utf8");
    const caPem = readFileSync(join(d, "data/cas/dev-issuing/cert.pem"), "utf8");
    const tlsPem = readFileSync(gw1.paths.tls.cert, "utf8");
    await gw1.audit.record({ type: "test.marker", actor: "test" });
    await gw1.close();

    const gw2 = await openGateway(config, pino({ level: "silent" }));
    expect(gw2.createdAdminToken).toBe(false);
    expect(readFileSync(gw2.paths.adminToken, "utf8")).toBe(token);
    expect(readFileSync(join(d, "data/cas/dev-issuing/cert.pem"), "utf8")).toBe(caPem);
    expect(readFileSync(gw2.paths.tls.cert, "utf8")).toBe(tlsPem);
    expect(gw2.cas.all.map((c) => c.name).sort()).toEqual(["dev-issuing", "dev-root"]);
    expect(await gw2.store.queryAudit({ type: "test.marker" })).toHaveLength(1);
    expect(await gw2.store.queryAudit({ type: "ca.initialized" })).toHaveLength(1);
    expect((await gw2.audit.verify()).ok).toBe(true);
    await gw2.close();
  });
});
