/**
 * Start-up figures for the README and issue 17: `npm start` (compiled) against the tsx entry (`npm run gateway --
 * serve`, what `npm start` ran before), time from spawn to the first 200 from /healthz and resident memory summed
 * over the process tree; then `node dist/src/cli/main.js ca list`. Run after `npm run build`:
 *   node --import tsx test/tools/measure-start.ts [runs]
 * Each run of a server uses a fresh data dir (first start: makes the development PKI) and then starts again on
 * it (a restart). Figures are printed, not asserted: they depend on the machine and its load.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const runs = Number(process.argv[2] ?? 3);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function tree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const n of readdirSync("/proc").filter((x) => /^[0-9]+$/.test(x))) {
    try {
      const st = readFileSync(`/proc/${n}/stat`, "utf8");
      parent.set(Number(n), Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [c, p] of parent) if (p === out[i]) out.push(c);
  return out;
}

function rssMiB(pids: number[]): number {
  let kib = 0;
  for (const p of pids) {
    try {
      kib += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kib / 1024;
}

interface Figure { ms: number; cpuMs: number; rssMiB: number; processes: number }

/** CPU time (user + system) spent so far by `pids`: on a loaded machine a steadier figure than wall time. */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const p of pids) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // gone
    }
  }
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

async function startOnce(command: string, args: string[], dataDir: string, env: Record<string, string> = {}): Promise<Figure> {
  const [https, http] = [await freePort(), await freePort()];
  const config = join(dataDir, "..", `config-${http}.yaml`);
  writeFileSync(config, `dataDir: ${dataDir}\nprofilesDir: ${join(ROOT, "profiles")}\nlisten:\n  https: { host: 127.0.0.1, port: ${https} }\n  http: { host: 127.0.0.1, port: ${http} }\n`);
  const t0 = performance.now();
  const child = spawn(command, [...args, "--config", config], { cwd: ROOT, stdio: "ignore", env: { ...process.env, ...env } });
  let ms = 0;
  let cpu = 0;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} ${args.join(" ")} exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${http}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) {
      ms = performance.now() - t0;
      cpu = cpuMs(tree(child.pid ?? 0));
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 1000)); // let start-up work (CRLs, schedules) settle before reading RSS
  const pids = tree(child.pid ?? 0);
  const figure = { ms, cpuMs: cpu, rssMiB: rssMiB(pids), processes: pids.length };
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  await new Promise((r) => setTimeout(r, 2000));
  // What a SIGTERM to the spawned process (npm, as a terminal or service manager sends it) left running.
  const left = pids.filter((p) => p !== child.pid && existsSync(`/proc/${p}`) && !/\) Z /.test(readFileSync(`/proc/${p}/stat`, "utf8")));
  if (left.length) console.log(`  ${command} ${args.join(" ")}: SIGTERM left ${left.length} processes running (${left.join(", ")}); killing them`);
  for (const p of left) process.kill(p, "SIGKILL");
  return figure;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const show = (label: string, fs: Figure[]) =>
  console.log(`${label.padEnd(44)} median ${(median(fs.map((f) => f.ms)) / 1000).toFixed(2)} s (${fs.map((f) => (f.ms / 1000).toFixed(2)).join(", ")}), CPU ${(median(fs.map((f) => f.cpuMs)) / 1000).toFixed(2)} s, RSS ${median(fs.map((f) => f.rssMiB)).toFixed(0)} MiB over ${fs[0].processes} processes`);

console.log(`node ${execFileSync("node", ["-v"]).toString().trim()}, load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}, ${runs} runs each`);
for (const [label, command, args, env] of [
  ["npm start (compiled, plain node)", "npm", ["start", "--"], {}],
  ["node dist/src/cli/main.js serve", "node", ["dist/src/cli/main.js", "serve"], {}],
  ["npm run gateway -- serve (tsx)", "npm", ["run", "gateway", "--", "serve"], {}],
] as const) {
  const first: Figure[] = [];
  const again: Figure[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), "measure-start-"));
    try {
      first.push(await startOnce(command, [...args], join(dir, "data"), env));
      again.push(await startOnce(command, [...args], join(dir, "data"), env));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  show(`${label}, new data dir`, first);
  show(`${label}, restart`, again);
}

const dir = mkdtempSync(join(tmpdir(), "measure-cli-"));
try {
  await startOnce("npm", ["start", "--"], join(dir, "data")); // a PKI to list
  for (const [label, command, args] of [
    ["node dist/src/cli/main.js ca list", "node", ["dist/src/cli/main.js", "ca", "list"]],
    ["tsx src/cli/main.ts ca list", join(ROOT, "node_modules/.bin/tsx"), ["src/cli/main.ts", "ca", "list"]],
  ] as const) {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      execFileSync(command, [...args, "--data-dir", join(dir, "data")], { cwd: ROOT, stdio: "ignore" });
      times.push(performance.now() - t0);
    }
    console.log(`${label.padEnd(44)} median ${(median(times) / 1000).toFixed(2)} s (${times.map((t) => (t / 1000).toFixed(2)).join(", ")})`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
