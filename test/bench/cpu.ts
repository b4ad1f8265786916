/**
 * Server CPU per operation, the yardstick every benchmark reports: utime + stime of a process read
 * from /proc/<pid>/stat over the measured window. It does not depend on how many cores the load
 * generator takes, so gateway and reference server are compared on the same footing.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** CPU milliseconds (user + system) a process has used so far; with `withChildren`, its waited-for children too. */
export function processCpuMs(pid: number, withChildren = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may contain spaces.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // f[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  const ticks = Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** A running CPU meter over one process: `stop(ops)` gives CPU ms per operation for the window since start. */
export class CpuMeter {
  private readonly startMs: number;
  constructor(private readonly pid: number) {
    this.startMs = processCpuMs(pid);
  }

  stop(ops: number): { cpuMs: number; cpuMsPerOp: number } {
    const cpuMs = processCpuMs(this.pid) - this.startMs;
    return { cpuMs: Math.round(cpuMs), cpuMsPerOp: ops > 0 ? Math.round((cpuMs / ops) * 1000) / 1000 : NaN };
  }
}

/** This process's own CPU milliseconds (for in-process benchmarks such as the engine alone). */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** gateway / reference, rounded; null when the reference is missing or zero. */
export function cpuRatio(gatewayMsPerOp: number, referenceMsPerOp: number | null | undefined): number | null {
  if (!referenceMsPerOp || !Number.isFinite(referenceMsPerOp)) return null;
  return Math.round((gatewayMsPerOp / referenceMsPerOp) * 1000) / 1000;
}
