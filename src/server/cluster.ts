import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import { AggregatorRegistry, type Registry } from "prom-client";

/** The slot (1..N) a worker fills; a replacement keeps the slot of the worker it replaces. */
export const WORKER_SLOT_ENV = "GATEWAY_WORKER_SLOT";

/** Sent by a worker once its listeners are bound and its schedules started. */
export interface ReadyMessage {
  gateway: "ready";
  banner: string;
}

export function isReadyMessage(m: unknown): m is ReadyMessage {
  return typeof m === "object" && m !== null && (m as ReadyMessage).gateway === "ready" && typeof (m as ReadyMessage).banner === "string";
}

/** A worker asks the primary for every worker's metrics (id matches the answer); the primary answers with `text` or `error`. */
interface MetricsMessage {
  gateway: "metrics";
  id: number;
  text?: string;
  error?: string;
}

function isMetricsMessage(m: unknown): m is MetricsMessage {
  return typeof m === "object" && m !== null && (m as MetricsMessage).gateway === "metrics" && typeof (m as MetricsMessage).id === "number";
}

/**
 * In a worker: /metrics (which renders `registry.metrics()`) answers with all workers' series, gathered by
 * the primary (prom-client's AggregatorRegistry asks each worker for this registry over IPC). Series carry
 * a `worker` label, so none are summed into another: store-derived gauges would otherwise count N times.
 * If the primary does not answer in time the worker's own series are served.
 */
export function clusterWideMetrics(registry: Registry, log: Logger, timeoutMs = 7_000): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // constructing one is what makes prom-client answer the primary's requests in a worker
  const local = registry.metrics.bind(registry);
  const waiting = new Map<number, (text: string | undefined) => void>();
  let next = 0;
  process.on("message", (m: unknown) => {
    if (!isMetricsMessage(m)) return;
    if (m.error) log.warn({ err: m.error }, "cluster metrics unavailable; serving this worker's");
    waiting.get(m.id)?.(m.text);
  });
  registry.metrics = () => new Promise<string | undefined>((resolve) => {
    const id = next++;
    const timer = setTimeout(() => waiting.get(id)?.(undefined), timeoutMs);
    waiting.set(id, (text) => {
      clearTimeout(timer);
      waiting.delete(id);
      resolve(text);
    });
    const ask: MetricsMessage = { gateway: "metrics", id };
    process.send?.(ask);
  }).then((text) => text ?? local());
}

export interface SupervisorOptions {
  workers: number;
  log: Logger;
  isReady(m: unknown): m is ReadyMessage;
  /** Called once, when every slot has had a ready worker; `pids` are the workers' at that moment. */
  onReady(m: ReadyMessage, pids: number[]): void;
  /** A worker that lived less than this died young: its replacement waits (doubling up to maxBackoffMs). */
  stableMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** After a forwarded SIGTERM/SIGINT, workers still running this long after are killed. */
  stopGraceMs?: number;
}

interface Slot {
  index: number;
  worker?: Worker;
  startedAt: number;
  ready: boolean;
  /** Consecutive deaths of young workers in this slot: the exponent of the restart delay. */
  youngDeaths: number;
  restart?: NodeJS.Timeout;
}

export interface Supervisor {
  /** Resolves with the exit code once every worker is gone. */
  exited: Promise<number>;
  /** What SIGTERM/SIGINT to this process do: forward `signal` to the workers (a second call kills them). */
  stop(signal: NodeJS.Signals): void;
}

/**
 * Forks `workers` processes (they re-run this program and share the listeners through node:cluster),
 * replaces one that dies (at once if it had run a while, else after a doubling delay, so a crash loop
 * does not spin), forwards SIGTERM/SIGINT to all of them; `exited` resolves with the exit code once all are
 * gone: 0 if each stopped cleanly, 1 otherwise. A worker dying before any worker was ever ready (a bad
 * port, configuration or key) stops everything with 1, as a one-process start would fail.
 */
export function superviseWorkers(o: SupervisorOptions): Supervisor {
  const stableMs = o.stableMs ?? 10_000;
  const backoffMs = o.backoffMs ?? 1_000;
  const maxBackoffMs = o.maxBackoffMs ?? 60_000;
  const stopGraceMs = o.stopGraceMs ?? 60_000;
  const slots: Slot[] = Array.from({ length: o.workers }, (_, i) => ({ index: i + 1, startedAt: 0, ready: false, youngDeaths: 0 }));
  const running = () => slots.flatMap((s) => (s.worker ? [s.worker] : []));
  let announced = false;
  let everReady = false;
  let stopping: NodeJS.Signals | undefined;
  let exitCode = 0;
  let finish: (code: number) => void = () => {};
  let graceTimer: NodeJS.Timeout | undefined;

  const aggregator = new AggregatorRegistry();
  const answerMetrics = (w: Worker, id: number) => {
    void aggregator.clusterMetrics().then(
      (text): MetricsMessage => ({ gateway: "metrics", id, text }),
      (e: unknown): MetricsMessage => ({ gateway: "metrics", id, error: (e as Error).message }),
    ).then((answer) => {
      if (w.isConnected()) w.send(answer);
    });
  };

  const fork = (slot: Slot) => {
    slot.restart = undefined;
    slot.ready = false;
    slot.startedAt = Date.now();
    const w = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.index) });
    slot.worker = w;
    // A failed spawn or an IPC write to a dying worker: logged; its "exit" (if any) decides what happens next.
    w.on("error", (e: Error) => o.log.error({ worker: slot.index, err: e.message }, "worker process error"));
    w.on("message", (m: unknown) => {
      if (isMetricsMessage(m)) return answerMetrics(w, m.id);
      if (!o.isReady(m)) return;
      slot.ready = everReady = true;
      o.log.info({ worker: slot.index, workerPid: w.process.pid }, "worker ready");
      if (!announced && slots.every((s) => s.ready)) {
        announced = true;
        o.onReady(m, running().map((r) => r.process.pid ?? 0));
      }
    });
    w.once("exit", (code, signal) => {
      slot.worker = undefined;
      if (stopping) {
        if (code !== 0 && signal !== stopping) exitCode = 1;
        if (!running().length) done();
        return;
      }
      if (!everReady) {
        o.log.error({ worker: slot.index, code, signal }, "a worker failed while starting; stopping");
        exitCode = 1;
        stop("SIGTERM");
        return;
      }
      slot.youngDeaths = Date.now() - slot.startedAt < stableMs ? slot.youngDeaths + 1 : 0;
      const delay = slot.youngDeaths ? Math.min(maxBackoffMs, backoffMs * 2 ** (slot.youngDeaths - 1)) : 0;
      o.log.error({ worker: slot.index, workerPid: w.process.pid, code, signal, restartInMs: delay }, "worker died; replacing it");
      slot.restart = setTimeout(() => fork(slot), delay);
    });
  };

  const done = () => {
    clearTimeout(graceTimer);
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigterm);
    finish(exitCode);
  };

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second signal: no more waiting.
      for (const w of running()) w.process.kill("SIGKILL");
      return;
    }
    stopping = signal;
    for (const s of slots) clearTimeout(s.restart);
    const live = running();
    if (!live.length) return done();
    o.log.info({ signal, workers: live.length }, "stopping workers");
    for (const w of live) w.process.kill(signal);
    graceTimer = setTimeout(() => {
      o.log.error({ workers: running().length }, "workers did not stop in time; killing them");
      exitCode = 1;
      for (const w of running()) w.process.kill("SIGKILL");
    }, stopGraceMs);
  };
  const onSigint = () => stop("SIGINT");
  const onSigterm = () => stop("SIGTERM");

  const exited = new Promise<number>((resolve) => (finish = resolve));
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigterm);
  for (const s of slots) fork(s);
  return { exited, stop };
}
