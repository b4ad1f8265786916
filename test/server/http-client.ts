import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * POSTs `size` bytes over a fresh connection, with Content-Length or chunked, writing with back-pressure.
 * The answer counts once it has arrived: a server may answer early and close while the body is still going out.
 */
export function postBytes(url: string, o: { size: number; chunked?: boolean; headers?: Record<string, string>; ca?: string }): Promise<RawAnswer> {
  const u = new URL(url);
  const headers: Record<string, string> = { ...o.headers, ...(o.chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(o.size) }) };
  const send = u.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = send(url, { method: "POST", headers, agent: false, ca: o.ca, servername: "localhost" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        answered = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("error", (e) => {
      if (!answered) reject(e);
    });
    const block = Buffer.alloc(64 * 1024, 0x41);
    let left = o.size;
    const pump = () => {
      while (left > 0) {
        const part = left >= block.length ? block : block.subarray(0, left);
        left -= part.length;
        if (!req.write(part)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}
