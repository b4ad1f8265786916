import { writeHeapSnapshot } from "node:v8";

/*
 * `gateway serve` with a memory probe, for the soak bench only: run as
 *   node --expose-gc --import tsx test/bench/soak-server.ts serve --config FILE
 * with an IPC channel from the parent. The probe answers over that channel and nowhere else, so no
 * listener of the gateway grows a debug route; the gateway itself is the unmodified CLI.
 *
 * Messages: { id, op: "memory" } → full GC, then process.memoryUsage();
 *           { id, op: "snapshot", path } → full GC, then v8.writeHeapSnapshot(path).
 */

export type ProbeOp = { op: "memory" } | { op: "snapshot"; path: string };
export type ProbeRequest = ProbeOp & { id: number };
export type ProbeReply = { id: number; memory?: NodeJS.MemoryUsage; path?: string; error?: string };

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("soak-server needs node --expose-gc");
if (!process.send) throw new Error("soak-server needs an IPC channel to its parent");

/** Two collections a turn apart: the first frees objects whose weak callbacks or finalizers the second collects. */
async function collect(): Promise<void> {
  gc!();
  await new Promise((r) => setImmediate(r));
  gc!();
}

process.on("message", (m: ProbeRequest) => {
  void (async (): Promise<ProbeReply> => {
    try {
      await collect();
      if (m.op === "snapshot") return { id: m.id, path: writeHeapSnapshot(m.path) };
      return { id: m.id, memory: process.memoryUsage() };
    } catch (e) {
      return { id: m.id, error: (e as Error).message };
    }
  })().then((reply) => process.send!(reply));
});
// The channel must not keep the process alive; a parent that goes away takes the gateway with it.
process.channel?.unref();
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"));

await import("../../src/cli/main.js");
