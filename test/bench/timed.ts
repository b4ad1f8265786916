import { readFileSync } from "node:fs";
import { selfCpuMs } from "./cpu.js";

export interface Measured { ops: number; perSecond: number; cpuMsPerOp: number; sysShare: number }

/**
 * Warm-up (JIT, SQLite page cache: `warmup` calls), then `fn` for `seconds` of wall time with `concurrency` calls in
 * flight, and this process's CPU over the measured loop. `fn` gets a running index.
 */
export async function timed(fn: (i: number) => Promise<void> | void, o: { concurrency?: number; seconds: number; warmup: number }): Promise<Measured> {
  const concurrency = o.concurrency ?? 1;
  let i = 0;
  const lanes = async (until: () => boolean) => {
    let ops = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (until()) {
        await fn(i++);
        ops++;
      }
    }));
    return ops;
  };
  await lanes(() => i < o.warmup);
  const cpu0 = selfCpuMs();
  const sys0 = process.cpuUsage().system;
  const main0 = mainThreadCpuMs();
  const start = performance.now();
  const end = start + o.seconds * 1000;
  const ops = await lanes(() => performance.now() < end);
  const wallS = (performance.now() - start) / 1000;
  const cpuMs = selfCpuMs() - cpu0;
  const sysMs = (process.cpuUsage().system - sys0) / 1000;
  if (process.env.BENCH_DEBUG) console.error(JSON.stringify({ ops, cpuMsPerOp: cpuMs / ops, mainThreadMsPerOp: (mainThreadCpuMs() - main0) / ops }));
  return { ops, perSecond: ops / wallS, cpuMsPerOp: Math.round((cpuMs / ops) * 10_000) / 10_000, sysShare: Math.round((sysMs / cpuMs) * 100) / 100 };
}

function mainThreadCpuMs(): number {
  const f = readFileSync("/proc/thread-self/stat", "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}
