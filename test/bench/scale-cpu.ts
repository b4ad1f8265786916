/**
 * CPU of a process tree, for servers that are several processes: `gateway serve --workers N` (a primary and its
 * cluster workers) and PostgreSQL (the postmaster and its backends). The yardstick is the one of cpu.ts (user +
 * system CPU of the server from /proc), summed over the root and every live descendant, plus cutime + cstime
 * (children that exited and were reaped), so a backend that ends inside the window still counts. Live processes
 * are read from /proc/<pid>/task/<tid>/schedstat (CPU nanoseconds of each thread) rather than the 10 ms ticks of
 * /proc/<pid>/stat: a PostgreSQL backend spends well under a tick per operation, and with a dozen backends the
 * ticks' rounding would swamp a window of a few hundred operations.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";

const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

interface Stat { ppid: number; ticks: number; reapedTicks: number }

function readStat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (in parentheses, may hold spaces): f[0] is field 3 (state), f[1] ppid.
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), reapedTicks: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** CPU ms of a live process: the sum of its threads' schedstat run time; its stat ticks when schedstat is missing. */
function liveCpuMs(pid: number, st: Stat): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    return ns / 1e6;
  } catch {
    return (st.ticks * 1000) / TICKS_PER_SECOND;
  }
}

/** The pids of `root` and all its live descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const st = readStat(Number(e));
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(Number(e));
    else children.set(st.ppid, [Number(e)]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    for (const c of children.get(p) ?? []) todo.push(c);
  }
  return out;
}

/** CPU milliseconds used so far by `root` and its descendants (live ones and reaped ones). */
export function treeCpuMs(root: number): { ms: number; rootMs: number; processes: number } {
  let ms = 0;
  let rootMs = 0;
  let processes = 0;
  for (const p of processTree(root)) {
    const st = readStat(p);
    if (!st) continue;
    const live = liveCpuMs(p, st);
    if (p === root) rootMs = live;
    ms += live + (st.reapedTicks * 1000) / TICKS_PER_SECOND;
    processes++;
  }
  return { ms, rootMs, processes };
}

/** A CPU meter over several process trees at once (gateway, PostgreSQL) and this process (the load generator). */
export class TreeMeter {
  private from: number[] = [];
  private rootFrom: number[] = [];
  private self0 = process.cpuUsage();
  private t0 = performance.now();
  constructor(private readonly roots: Array<number | undefined>) {
    this.start();
  }

  start(): void {
    const now = this.roots.map((r) => (r === undefined ? { ms: 0, rootMs: 0 } : treeCpuMs(r)));
    this.from = now.map((n) => n.ms);
    this.rootFrom = now.map((n) => n.rootMs);
    this.self0 = process.cpuUsage();
    this.t0 = performance.now();
  }

  /** CPU ms per tree and of each root alone over the window, this process's CPU ms, the window's wall ms, and processes per tree. */
  stop(): { cpuMs: number[]; rootCpuMs: number[]; processes: number[]; selfMs: number; wallMs: number } {
    const now = this.roots.map((r) => (r === undefined ? { ms: 0, rootMs: 0, processes: 0 } : treeCpuMs(r)));
    const d = process.cpuUsage(this.self0);
    return {
      cpuMs: now.map((n, i) => n.ms - this.from[i]),
      rootCpuMs: now.map((n, i) => n.rootMs - this.rootFrom[i]),
      processes: now.map((n) => n.processes),
      selfMs: (d.user + d.system) / 1000,
      wallMs: performance.now() - this.t0,
    };
  }
}

/** The postmaster's pid of a cluster started by test/helpers/postgres.ts (first line of postmaster.pid). */
export function postmasterPid(clusterDir: string): number {
  const pid = Number(readFileSync(join(clusterDir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${clusterDir}/data/postmaster.pid`);
  return pid;
}
