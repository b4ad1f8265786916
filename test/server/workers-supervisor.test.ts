import cluster from "node:cluster";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isReadyMessage, superviseWorkers } from "../../src/server/cluster.js";
import { tempDir } from "../helpers/openssl.js";

/** A stand-in worker: MODE=fail-start exits before ready; crash-after-ready dies right after reporting ready; else it runs until SIGTERM. */
const WORKER = `
if (process.env.MODE === "fail-start") process.exit(3);
process.send({ gateway: "ready", banner: "slot " + process.env.GATEWAY_WORKER_SLOT });
if (process.env.MODE === "crash-after-ready") setTimeout(() => process.exit(4), 20);
process.on("SIGTERM", () => process.exit(0));
setInterval(() => {}, 1000);
`;

/** A logger whose lines are kept, to read what the supervisor decided. */
function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { log, lines };
}

function setup(mode: string): void {
  const script = join(tempDir("supervisor-"), "worker.cjs");
  writeFileSync(script, WORKER);
  process.env.MODE = mode;
  cluster.setupPrimary({ exec: script, execArgv: [], args: [], silent: true });
}

describe("worker supervisor", () => {
  afterEach(() => {
    delete process.env.MODE;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
  });

  it("announces once every slot is ready; SIGTERM stops all workers and exits 0", async () => {
    setup("run");
    const { log } = capture();
    const ready = vi.fn();
    const sup = superviseWorkers({ workers: 3, log, isReady: isReadyMessage, onReady: ready });
    await vi.waitFor(() => expect(ready).toHaveBeenCalledTimes(1), { timeout: 30_000 });
    const [msg, pids] = ready.mock.calls[0] as [unknown, number[]];
    expect(isReadyMessage(msg)).toBe(true);
    expect(new Set(pids).size).toBe(3);
    sup.stop("SIGTERM");
    expect(await sup.exited).toBe(0);
    expect(Object.keys(cluster.workers ?? {})).toEqual([]);
  });

  it("a worker that keeps dying young is restarted after doubling delays, not in a tight loop", async () => {
    setup("crash-after-ready");
    const { log, lines } = capture();
    const sup = superviseWorkers({ workers: 1, log, isReady: isReadyMessage, onReady: () => {}, backoffMs: 25, maxBackoffMs: 100, stableMs: 60_000 });
    const restarts = () => lines.filter((l) => l.msg === "worker died; replacing it").map((l) => l.restartInMs);
    await vi.waitFor(() => expect(restarts().length).toBeGreaterThanOrEqual(4), { timeout: 60_000, interval: 20 });
    sup.stop("SIGTERM");
    expect(await sup.exited).toBe(0);
    expect(restarts().slice(0, 4)).toEqual([25, 50, 100, 100]);
    expect(lines.filter((l) => l.msg === "worker died; replacing it").every((l) => l.code === 4 && l.worker === 1)).toBe(true);
  });

  it("a worker failing before any was ever ready stops the rest and exits 1, like a one-process start", async () => {
    setup("fail-start");
    const { log, lines } = capture();
    const sup = superviseWorkers({ workers: 2, log, isReady: isReadyMessage, onReady: () => {} });
    expect(await sup.exited).toBe(1);
    expect(lines.some((l) => l.msg === "a worker failed while starting; stopping")).toBe(true);
    expect(lines.some((l) => l.msg === "worker died; replacing it")).toBe(false);
  });
});
