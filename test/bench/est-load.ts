import { Agent, request } from "node:https";
import type { Socket } from "node:net";
import { processCpuMs } from "./cpu.js";

export interface EstLoadOptions {
  /** `…/.well-known/est/simpleenroll` */
  url: string;
  rootPem: string;
  user: string;
  password: string;
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
  requestTimeoutMs: number;
  /** Request bodies (base64 PKCS#10), each sent once; more are made by `more` when they run out. */
  bodies: Buffer[];
  more: () => Buffer;
  /** The server's pid: its CPU (from /proc) is read at the same instants as the window opens and closes. */
  serverPid?: number;
}

export interface EstLoadResult {
  /** 200 answers that arrived inside the measured window. */
  ok: number;
  seconds: number;
  latenciesMs: number[];
  /** Non-200 answers and failed requests, warm-up included. */
  errors: number;
  firstErrors: string[];
  requests: number;
  /** TLS connections opened: `concurrency` when keep-alive held throughout. */
  connections: number;
  /** CPU this (load generator) process used during the measured window, % of one core. */
  clientCpuPercent: number | null;
  /** Server CPU milliseconds (utime + stime) over the measured window; null without `serverPid`. */
  serverCpuMs: number | null;
  /** CSRs made during the run because the pre-made pool ran out. */
  madeInline: number;
}

interface Answer { status: number; contentType: string; body: Buffer }

function post(url: URL, agent: Agent, headers: Record<string, string | number>, body: Buffer, timeoutMs: number, sockets: Set<Socket>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent, headers: { ...headers, "Content-Length": body.length }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("socket", (s: Socket) => sockets.add(s));
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** One POST outside any measurement (sanity check before timing). */
export async function enrollOnce(o: Pick<EstLoadOptions, "url" | "rootPem" | "user" | "password" | "requestTimeoutMs">, body: Buffer): Promise<Answer> {
  const agent = new Agent({ keepAlive: false, ca: o.rootPem });
  try {
    return await post(new URL(o.url), agent, headersFor(o), body, o.requestTimeoutMs, new Set());
  } finally {
    agent.destroy();
  }
}

function headersFor(o: { user: string; password: string }): Record<string, string> {
  return { "Content-Type": "application/pkcs10", Authorization: `Basic ${Buffer.from(`${o.user}:${o.password}`).toString("base64")}` };
}

/**
 * `concurrency` workers, each with its own keep-alive agent (one socket), each POSTing a distinct
 * CSR after the previous answer, until the window closes. Answers inside [warm-up end, window end]
 * count; requests still running at the end finish but do not.
 */
export async function runEstLoad(o: EstLoadOptions): Promise<EstLoadResult> {
  const url = new URL(o.url);
  const headers = headersFor(o);
  const sockets = new Set<Socket>();
  const done: Array<{ at: number; ms: number }> = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let requests = 0;
  let next = 0;
  let madeInline = 0;
  const take = () => {
    if (next < o.bodies.length) return o.bodies[next++];
    madeInline++;
    return o.more();
  };
  const from = performance.now() + o.warmupSeconds * 1000;
  const to = from + o.seconds * 1000;
  const agents = Array.from({ length: o.concurrency }, () => new Agent({ keepAlive: true, maxSockets: 1, ca: o.rootPem }));
  let cpuFrom: NodeJS.CpuUsage | undefined;
  let clientCpuPercent: number | null = null;
  let serverFrom: number | undefined;
  let serverCpuMs: number | null = null;
  const cpuTimers = [
    setTimeout(() => {
      cpuFrom = process.cpuUsage();
      if (o.serverPid) serverFrom = processCpuMs(o.serverPid);
    }, o.warmupSeconds * 1000),
    setTimeout(() => closeWindow(), (o.warmupSeconds + o.seconds) * 1000),
  ];
  // At the window's end: by the timer, or by the workers when they stop first (timers may fire a little late).
  let closed = false;
  function closeWindow(): void {
    if (closed || !cpuFrom) return;
    closed = true;
    if (o.serverPid && serverFrom !== undefined) serverCpuMs = processCpuMs(o.serverPid) - serverFrom;
    const d = process.cpuUsage(cpuFrom);
    clientCpuPercent = Math.round(((d.user + d.system) / 1000 / (o.seconds * 1000)) * 100);
  }
  try {
    await Promise.all(agents.map(async (agent) => {
      while (performance.now() < to) {
        const body = take();
        const t0 = performance.now();
        requests++;
        try {
          const a = await post(url, agent, headers, body, o.requestTimeoutMs, sockets);
          const t1 = performance.now();
          if (a.status === 200 && a.contentType.startsWith("application/pkcs7-mime") && a.body.length > 0) {
            done.push({ at: t1, ms: t1 - t0 });
          } else {
            errors++;
            if (firstErrors.length < 5) firstErrors.push(`HTTP ${a.status} ${a.contentType}: ${a.body.toString("utf8").slice(0, 300)}`);
          }
        } catch (e) {
          errors++;
          if (firstErrors.length < 5) firstErrors.push((e as Error).message);
        }
        if (performance.now() >= to) closeWindow();
      }
    }));
  } finally {
    closeWindow();
    for (const t of cpuTimers) clearTimeout(t);
    for (const a of agents) a.destroy();
  }
  const counted = done.filter((d) => d.at >= from && d.at <= to);
  return { ok: counted.length, seconds: o.seconds, latenciesMs: counted.map((d) => d.ms), errors, firstErrors, requests, connections: sockets.size, clientCpuPercent, serverCpuMs, madeInline };
}
