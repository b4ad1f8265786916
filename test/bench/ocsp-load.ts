import { Agent, request } from "node:http";

export interface OcspLoadOptions {
  /** POST target; GET sends `${url}/<url-encoded base64>`. */
  url: string;
  method: "POST" | "GET";
  /** A new TCP connection per request (what `openssl ocsp` serves), or keep-alive connections. */
  keepAlive: boolean;
  concurrency: number;
  /** Requests in this window; request i sends bodies[i % bodies.length] (all made before timing). */
  ops: number;
  bodies: Uint8Array[];
  timeoutMs: number;
}

export interface OcspLoadResult {
  ok: number;
  errors: number;
  firstError?: string;
  seconds: number;
  /** Latencies of the successful requests, ms, ascending. */
  latencies: number[];
}

/** True when `der` is an OCSPResponse with responseStatus successful (30 len 0a 01 00 ...). */
export function isSuccessful(der: Buffer): boolean {
  if (der.length < 5 || der[0] !== 0x30) return false;
  const lenBytes = der[1] & 0x80 ? der[1] & 0x7f : 0;
  const at = 2 + lenBytes;
  return der[at] === 0x0a && der[at + 1] === 0x01 && der[at + 2] === 0x00;
}

/** Sends `ops` requests with `concurrency` in flight, the same way to every server. */
export async function runOcspLoad(o: OcspLoadOptions): Promise<OcspLoadResult> {
  const agent = o.keepAlive ? new Agent({ keepAlive: true, maxSockets: o.concurrency }) : undefined;
  const u = new URL(o.url);
  const paths = o.method === "GET" ? o.bodies.map((b) => `${u.pathname.replace(/\/$/, "")}/${encodeURIComponent(Buffer.from(b).toString("base64"))}`) : [];
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const once = (i: number) => new Promise<void>((resolve) => {
    const body = o.bodies[i % o.bodies.length];
    const started = performance.now();
    const headers: Record<string, string | number> = o.method === "POST" ? { "content-type": "application/ocsp-request", "content-length": body.length } : {};
    if (!o.keepAlive) headers.connection = "close";
    const fail = (why: string) => {
      errors++;
      firstError ??= why;
      resolve();
    };
    const req = request({ host: u.hostname, port: u.port, method: o.method, path: o.method === "GET" ? paths[i % paths.length] : u.pathname, headers, agent: agent ?? false, timeout: o.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const der = Buffer.concat(chunks);
        if (res.statusCode !== 200 || !isSuccessful(der)) return fail(`HTTP ${res.statusCode}, ${der.length} bytes: ${der.subarray(0, 8).toString("hex")}`);
        latencies.push(performance.now() - started);
        resolve();
      });
      res.on("error", (e) => fail(e.message));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => fail(e.message));
    req.end(o.method === "POST" ? body : undefined);
  });
  const worker = async () => {
    while (next < o.ops) await once(next++);
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  agent?.destroy();
  latencies.sort((a, b) => a - b);
  return { ok: latencies.length, errors, firstError, seconds, latencies };
}
