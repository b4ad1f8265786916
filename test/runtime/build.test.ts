import { execFile } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ROOT } from "../helpers/gateway.js";
import { alive, gatewayConfig, httpsGet, logLines, processTree, startGateway, tryConnect, type GatewayProcess } from "./serve-process.js";

function run(command: string, args: string[], timeout = 600_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: ROOT, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

const started: GatewayProcess[] = [];
afterEach(() => {
  for (const g of started.splice(0)) if (g.proc.exitCode === null && g.proc.signalCode === null) g.proc.kill("SIGKILL");
});

beforeAll(async () => {
  const b = await run("npm", ["run", "-s", "build"]);
  expect(b.code, b.out).toBe(0);
}, 600_000);

/** Every file under `dir`, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name))]));
}

describe("npm run build", () => {
  it("writes the CLI (executable, with its shebang, named by package.json's bin), the protocols and the console's static files to dist/", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string>; dependencies: Record<string, string> };
    const main = join(ROOT, pkg.bin.gateway);
    expect(pkg.bin.gateway).toBe("dist/src/cli/main.js");
    // Plain node, with V8's young generation capped (Node 24 keeps 2 × 16 MB of it after start; docs/operations.md).
    expect(readFileSync(main, "utf8").split("\n")[0]).toBe("#!/usr/bin/env -S node --max-semi-space-size=4");
    accessSync(main, constants.X_OK);
    for (const p of ["acme", "est", "scep", "cmp"]) expect(existsSync(join(ROOT, "dist/protocols", p, "index.js")), p).toBe(true);
    const statics = walk(join(ROOT, "src/console/static"));
    expect(statics).toContain("index.html");
    for (const f of statics) expect(readFileSync(join(ROOT, "dist/src/console/static", f)), f).toEqual(readFileSync(join(ROOT, "src/console/static", f)));
    expect(existsSync(join(ROOT, "dist/test"))).toBe(false);
    // Compiled code loads no TypeScript and no tsx: tsx is a development dependency only.
    expect(pkg.dependencies.tsx).toBeUndefined();
    for (const f of walk(join(ROOT, "dist")).filter((x) => x.endsWith(".js"))) {
      const js = readFileSync(join(ROOT, "dist", f), "utf8");
      expect(js, f).not.toMatch(/from\s+["'][^"']*\.ts["']|import\(\s*["'][^"']*\.ts["']\)|["']tsx["']/);
    }
  });

  it("the bin entry runs with plain node", async () => {
    const c = await gatewayConfig("build-cli-");
    const r = await run(join(ROOT, "dist/src/cli/main.js"), ["check-config", "--config", c.config], 120_000);
    expect(r.code, r.out).toBe(0);
  }, 120_000);
});

describe("npm start", () => {
  it("serves the compiled gateway (console files and vendored modules resolve from dist/); SIGTERM to npm stops the whole process tree", async () => {
    const g = await startGateway("npm-start-", "npm", (config) => ["start", "--", "--config", config]);
    started.push(g);
    const tree = processTree(g.proc.pid ?? 0);
    const cmdlines = tree.map((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" "));
    expect(cmdlines.some((c) => c.includes("dist/src/cli/main.js serve"))).toBe(true);
    expect(cmdlines.join("\n")).not.toContain("tsx");

    // The console's page and a vendored module (resolved through createRequire from dist/src/server).
    const page = await httpsGet(g.httpsPort, "/console/");
    expect(page.status).toBe(200);
    expect(page.body).toBe(readFileSync(join(ROOT, "src/console/static/index.html"), "utf8"));
    expect((await httpsGet(g.httpsPort, "/console/vendor/preact.mjs")).status).toBe(200);

    g.proc.kill("SIGTERM"); // the npm process, as a service manager or a terminal would
    expect(await g.exited).toEqual({ code: 0, signal: null });
    await vi.waitFor(() => expect(alive(tree)).toEqual([]), { timeout: 30_000, interval: 100 });
    expect(await tryConnect(g.httpsPort)).toBe("ECONNREFUSED");
    expect(await tryConnect(g.httpPort)).toBe("ECONNREFUSED");
    expect(logLines(g).filter((l) => l.msg === "gateway stopped")).toHaveLength(1);
  }, 180_000);
});

/** Docker's .dockerignore matching (moby/patternmatcher): from the context root, `**` spans directories, a matched directory takes its contents along, `!` re-includes. */
function dockerIgnored(patterns: string[], path: string): boolean {
  const toRegex = (p: string) => new RegExp(`^${p.replace(/^\/+|\/+$/g, "").split(/(\*\*\/?|\*|\?)/).map((t) =>
    t === "**/" || t === "**" ? "(?:.*/)?" + (t === "**" ? ".*" : "") : t === "*" ? "[^/]*" : t === "?" ? "[^/]" : t.replace(/[.+^${}()|[\]\\]/g, "\\$&")).join("")}$`);
  const parts = path.split("/");
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith("!");
    const re = toRegex(negate ? raw.slice(1) : raw);
    if (prefixes.some((p) => re.test(p))) ignored = !negate;
  }
  return ignored;
}

describe("Dockerfile and .dockerignore", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));

  it("builds on node:24 and runs the compiled CLI with plain node as a non-root user, with a health check", () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms).toEqual(["node:24-bookworm", "node:24-bookworm-slim"]);
    expect(dockerfile).toMatch(/^RUN npm run build && npm prune --omit=dev/m);
    const entry = /^ENTRYPOINT\s+(\[.*\])/m.exec(dockerfile);
    const argv = JSON.parse(entry?.[1] ?? "[]") as string[];
    expect(argv.slice(-3)).toEqual(["node", "--max-semi-space-size=4", "/app/dist/src/cli/main.js"]);
    expect(existsSync(join(ROOT, "dist/src/cli/main.js"))).toBe(true);
    const user = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    expect(user.at(-1)).toBe("gateway");
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\/healthz/m);
    expect(dockerfile.split("\n").filter((l) => !l.startsWith("#")).join("\n")).not.toMatch(/tsx/); // the image runs no TypeScript
  });

  it("every file the Dockerfile copies exists (after npm run build) and is in the build context", () => {
    const copies = [...dockerfile.matchAll(/^COPY\s+(--from=\S+\s+)?(.+)$/gm)].map((m) => ({ fromStage: Boolean(m[1]), args: m[2].trim().split(/\s+/) }));
    expect(copies.length).toBeGreaterThan(5);
    for (const c of copies) {
      for (const src of c.args.slice(0, -1)) {
        if (c.fromStage) {
          // /app in the build stage is the repository after npm ci and npm run build.
          expect(src.startsWith("/app/"), src).toBe(true);
          expect(existsSync(join(ROOT, src.slice("/app/".length))), src).toBe(true);
        } else {
          expect(existsSync(join(ROOT, src)), src).toBe(true);
          expect(dockerIgnored(ignore, src), `${src} is excluded by .dockerignore`).toBe(false);
          if (statSync(join(ROOT, src)).isDirectory()) {
            const files = walk(join(ROOT, src));
            expect(files.length).toBeGreaterThan(0);
            for (const f of files) expect(dockerIgnored(ignore, `${src}/${f}`), `${src}/${f} is excluded by .dockerignore`).toBe(false);
          }
        }
      }
    }
  });

  it("keeps CA keys, databases, tokens, local builds and node_modules out of the build context", () => {
    for (const p of [
      "data/cas/dev-root/key.pem", "data/gateway.db", "data/admin-token", "data/tls/key.pem", "elsewhere/data/cas/x/key.pem",
      "node_modules/pg/package.json", "dist/src/cli/main.js", ".git/HEAD", ".cache/enrollment-gateway/node-24-linux-x64/bin/node",
      "test-output/vitest.json", "gateway.db", "gateway.db-wal", "tmp/store.sqlite", "issuing.key", "certs-dev/ca.key", "x/admin-token",
    ]) expect(dockerIgnored(ignore, p), p).toBe(true);
    // … while what the image needs stays in it (attestation roots are .pem files).
    for (const p of ["src/cli/main.ts", "protocols/acme/index.ts", "profiles/device.yaml", "profiles/attestation-roots/yubico-piv-root.pem", "package-lock.json", "config.example.yaml"]) {
      expect(dockerIgnored(ignore, p), p).toBe(false);
    }
  });
});
