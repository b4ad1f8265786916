import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Agents of one worker, one socket per scheme, closed at the end of a batch. `keepAlive: false` (a connection per
 * request) suits requests sent now and then: a socket idle that long would race the server's keep-alive close.
 */
export class Agents {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
  constructor(caPem: string, o: { localAddress?: string; keepAlive?: boolean } = {}) {
    const common = { keepAlive: o.keepAlive ?? true, maxSockets: 1, localAddress: o.localAddress };
    this.http = new HttpAgent(common);
    this.https = new HttpsAgent({ ...common, ca: caPem });
  }
  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

/** One HTTP(S) exchange; the body is read whole. */
export function send(url: string, o: { agents: Agents; method?: string; headers?: Record<string, string>; body?: Uint8Array | string; timeoutMs: number }): Promise<Answer> {
  const u = new URL(url);
  const tls = u.protocol === "https:";
  const body = o.body === undefined ? undefined : typeof o.body === "string" ? Buffer.from(o.body) : Buffer.from(o.body);
  const headers: Record<string, string | number> = { ...o.headers, ...(body ? { "content-length": body.length } : {}) };
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(u, { method: o.method ?? (body ? "POST" : "GET"), headers, agent: tls ? o.agents.https : o.agents.http, timeout: o.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${u.pathname}: no answer within ${o.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Throws with a short preview unless the status is `want`. */
export function expectStatus(what: string, a: Answer, want: number): Answer {
  if (a.status !== want) throw new Error(`${what}: HTTP ${a.status} (expected ${want}): ${a.body.toString("utf8").replace(/[^\x20-\x7e]+/g, "·").slice(0, 200)}`);
  return a;
}
