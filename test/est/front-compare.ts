import { createServer, request as httpRequest, type RequestListener, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";

/*
 * For the protocol fronts (EST, SCEP, CMP served ahead of express): the same request sent to the listener
 * (through the front) and to the express app on a server of its own, answers compared byte for byte.
 */

export interface Raw {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface Send {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** One request on its own connection; `ca` for HTTPS. */
export function rawRequest(url: string, o: Send = {}, ca?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const make = url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = make(url, { method: o.method ?? "GET", headers: o.headers, agent: false, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
      });
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

/** The express app alone on plain HTTP (what it serves when used without the listener's front). */
export async function serveAlone(app: RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(app);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

/** What must be equal: status, body and every header but the per-connection ones. */
export function comparable(r: Raw): { status: number; headers: Record<string, string>; body: string } {
  const { date: _d, connection: _c, "keep-alive": _k, ...headers } = r.headers;
  return { status: r.status, headers, body: r.body.toString("base64") };
}
