// Small helpers shared by the multi-instance tests: the admin API of one instance, reads of the shared database, a
// per-request routing HTTP proxy (one client run spread over instances) and a CRL reader.
import { execFileSync } from "node:child_process";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import pg from "pg";
import type { Deployment } from "./instances.js";

/** An HTTPS request trusting the deployment's root; the answer's status, headers and JSON body (`{ text }` when not JSON). */
export function call(d: Deployment, url: string, method: string, o: { headers?: Record<string, string>; body?: unknown } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; json: Record<string, unknown> }> {
  const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method, ca: readFileSync(d.rootPem, "utf8"), agent: false, servername: "localhost",
      headers: { ...o.headers, ...(payload && { "content-type": "application/json", "content-length": String(payload.length) }) },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        let json: Record<string, unknown> = {};
        try { json = text ? JSON.parse(text) as Record<string, unknown> : {}; } catch { json = { text }; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** A JSON call to the admin API of one instance (or the load balancer), with the generated admin token. */
export function admin(d: Deployment, base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return call(d, `${base}/admin/api/v1${path}`, method, { headers: { authorization: `Bearer ${d.adminToken()}` }, body });
}

/** A read straight from the shared database (what every instance sees). */
export async function sql(d: Deployment, text: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: d.databaseUrl });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as Array<Record<string, unknown>>;
  } finally {
    await c.end();
  }
}

/** An HTTP proxy sending the n-th request to the base URL `route(n)` resolves to: one `openssl cmp` run spread over instances. */
export async function routingProxy(route: (n: number) => Promise<string>): Promise<{ server: string; sent: string[]; close(): Promise<void> }> {
  let n = 0;
  const sent: string[] = [];
  const srv: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      void (async () => {
        const to = await route(n++);
        sent.push(to);
        const r = await fetch(`${to}${req.url}`, { method: req.method, headers: { "content-type": req.headers["content-type"] ?? "application/pkixcmp" }, body: Buffer.concat(parts) });
        res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/pkixcmp" });
        res.end(Buffer.from(await r.arrayBuffer()));
      })().catch(() => { res.statusCode = 502; res.end(); });
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return { server: `127.0.0.1:${(srv.address() as AddressInfo).port}`, sent, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

/** Lowercase hex without leading zero bytes, as the inventory keys serials. */
export const normSerial = (s: string) => s.toLowerCase().replace(/:/g, "").replace(/^(00)+(?=..)/, "");

/** A DER CRL read by OpenSSL: its CRL number, thisUpdate (ms, whole seconds) and the serials it lists. */
export function readCrl(der: Uint8Array): { number: bigint; thisUpdate: number; serials: Set<string> } {
  const text = execFileSync("openssl", ["crl", "-inform", "DER", "-noout", "-text"], { input: Buffer.from(der) }).toString("utf8");
  const num = /X509v3 CRL Number:\s*\n\s*(\S+)/.exec(text);
  if (!num) throw new Error(`no CRL number in:\n${text.slice(0, 500)}`);
  const last = /Last Update: (.+)/.exec(text);
  const thisUpdate = last ? Date.parse(last[1].replace(/\s+/g, " ").trim()) : NaN; // whole seconds
  if (Number.isNaN(thisUpdate)) throw new Error(`no Last Update in:\n${text.slice(0, 500)}`);
  return { number: BigInt(num[1]), thisUpdate, serials: new Set([...text.matchAll(/Serial Number: (\S+)/g)].map((m) => normSerial(m[1]))) };
}
