import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import type { MacPlan } from "../../protocols/cmp/mac.js";
import { MacKeyPool, MacPoolBusy } from "../../protocols/cmp/mac-pool.js";
import { ROOT } from "../helpers/gateway.js";
import { opensslAsync, tempDir } from "../helpers/openssl.js";

const secret = new TextEncoder().encode("pool-Secret-3");
const pools: MacKeyPool[] = [];
const poolOf = (o: ConstructorParameters<typeof MacKeyPool>[0]) => {
  const p = new MacKeyPool(o);
  pools.push(p);
  return p;
};
afterAll(async () => {
  for (const p of pools) await p.close();
});

/** RFC 4211 §4.4 written out: key = owf^n(secret ‖ salt). */
function referencePbm(owf: string, salt: Uint8Array, n: number): string {
  let k = createHash(owf).update(secret).update(salt).digest();
  for (let i = 1; i < n; i++) k = createHash(owf).update(k).digest();
  return k.toString("hex");
}

const pbm = (iterations: number, owf: "sha256" | "sha384" | "sha512" = "sha256"): Extract<MacPlan, { kind: "pbm" }> =>
  ({ kind: "pbm", salt: new Uint8Array(randomBytes(16)), owf, iterations, mac: "sha256" });

describe("MacKeyPool", () => {
  it("PasswordBasedMac keys from the workers equal owf^n(secret ‖ salt); PBMAC1 keys equal OpenSSL's PBKDF2", async () => {
    const kinds: string[] = [];
    const pool = poolOf({ maxQueued: 8, onDerive: (k) => void kinds.push(k) });
    for (const plan of [pbm(1), pbm(2), pbm(500), pbm(1000), pbm(1000, "sha384"), pbm(777, "sha512")]) {
      expect((await pool.derive(plan, secret)).toString("hex")).toBe(referencePbm(plan.owf, plan.salt, plan.iterations));
    }
    const salt = new Uint8Array(randomBytes(16));
    const key = await pool.derive({ kind: "pbmac1", salt, iterations: 2048, keyLength: 48, prf: "sha384", mac: "sha384" }, secret);
    const ossl = await opensslAsync(["kdf", "-keylen", "48", "-kdfopt", "digest:SHA384", "-kdfopt", `pass:${Buffer.from(secret).toString()}`,
      "-kdfopt", `hexsalt:${Buffer.from(salt).toString("hex")}`, "-kdfopt", "iter:2048", "PBKDF2"]);
    expect(ossl.code, ossl.out).toBe(0);
    expect(key.toString("hex")).toBe(ossl.out.replace(/[^0-9A-Fa-f]/g, "").toLowerCase());
    expect(kinds).toEqual(["pbm", "pbm", "pbm", "pbm", "pbm", "pbm", "pbmac1"]);
  });

  it("bounded: beyond the running slots and the queue a derivation is refused at once, unless unbounded", async () => {
    const started: string[] = [];
    const pool = poolOf({ threads: 1, maxQueued: 1, onDerive: (k) => void started.push(k) });
    // All asked in one turn of the event loop: nothing can finish in between.
    const running = pool.derive(pbm(200_000), secret);
    const queued = pool.derive(pbm(10), secret);
    expect(pool.pending).toBe(2);
    const refusedPbm = pool.derive(pbm(10), secret);
    const refusedPbmac1 = pool.derive({ kind: "pbmac1", salt: new Uint8Array(16), iterations: 1000, keyLength: 32, prf: "sha256", mac: "sha256" }, secret);
    const answerKey = pool.derive(pbm(10), secret, { unbounded: true });
    expect(pool.pending).toBe(3);
    await expect(refusedPbm).rejects.toBeInstanceOf(MacPoolBusy);
    await expect(refusedPbmac1).rejects.toBeInstanceOf(MacPoolBusy);
    await Promise.all([running, queued, answerKey]);
    expect(started).toHaveLength(3); // the refused ones never started
    expect(pool.pending).toBe(0);
  });

  it("close refuses what waits and what comes later", async () => {
    const pool = poolOf({ threads: 1, maxQueued: 4 });
    const first = pool.derive(pbm(100_000), secret);
    const waiting = pool.derive(pbm(10), secret);
    const closing = pool.close();
    await expect(waiting).rejects.toThrow(/closed/);
    await expect(first).rejects.toThrow(/exited|closed/);
    await closing;
    await expect(pool.derive(pbm(10), secret)).rejects.toThrow(/closed/);
  });

  it("runs as compiled JavaScript in plain node (no tsx), and an unclosed pool does not keep the process alive", async () => {
    const dir = tempDir("mac-pool-");
    const js = ts.transpileModule(readFileSync(join(ROOT, "protocols/cmp/mac-pool.ts"), "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(dir, "mac-pool.mjs"), js);
    const salt = "00112233445566778899aabbccddeeff";
    writeFileSync(join(dir, "main.mjs"), `
      import { MacKeyPool } from "./mac-pool.mjs";
      const pool = new MacKeyPool({ maxQueued: 4 });
      const key = await pool.derive({ kind: "pbm", salt: Buffer.from("${salt}", "hex"), owf: "sha256", iterations: 1000, mac: "sha256" }, Buffer.from("pool-Secret-3"));
      console.log(key.toString("hex"));
    `);
    const r = await new Promise<{ code: number | null; out: string }>((resolve) =>
      execFile(process.execPath, [join(dir, "main.mjs")], { timeout: 30_000 }, (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, out: `${stdout}${stderr}` })));
    expect(r.code, r.out).toBe(0);
    expect(r.out.trim()).toBe(referencePbm("sha256", Buffer.from(salt, "hex"), 1000));
  });
});
