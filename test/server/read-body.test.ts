import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { collectBody, type BodyRefusal } from "../../src/server/read-body.js";

/** What collectBody handed over for one request, and how many times. */
interface Outcome {
  body: Buffer;
  refused: BodyRefusal | undefined;
  arg: unknown;
  calls: number;
}

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** A server collecting with `max`; resolves with the outcome once the client has its answer. */
async function collect(max: number, send: (port: number) => Promise<void>): Promise<Outcome> {
  let outcome: Outcome | undefined;
  server = createServer((req, res) => {
    const tag = { request: req.url };
    collectBody(req, max, (body, refused, arg) => {
      if (outcome) outcome.calls++;
      else outcome = { body, refused, arg, calls: 1 };
      res.writeHead(refused ? 413 : 200, { connection: "close" }).end();
    }, tag);
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  await send((server.address() as AddressInfo).port);
  await new Promise((r) => setTimeout(r, 20)); // any late second call would land here
  return outcome!;
}

/** A POST whose body goes out in the given pieces (chunked unless a Content-Length is set). */
function post(port: number, pieces: Buffer[], headers: Record<string, string | number> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method: "POST", path: "/x", headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", (e) => (e.message.includes("EPIPE") || e.message.includes("ECONNRESET") ? resolve(-1) : reject(e)));
    void (async () => {
      for (const p of pieces) {
        req.write(p);
        await new Promise((r) => setTimeout(r, 5)); // separate reads on the server
      }
      req.end();
    })();
  });
}

describe("collectBody", () => {
  it("joins a body sent in several pieces, in order, and hands back the caller's argument", async () => {
    const pieces = [Buffer.from("first-"), Buffer.from("second-"), Buffer.from("third")];
    const o = await collect(1024, async (port) => expect(await post(port, pieces)).toBe(200));
    expect(o.refused).toBeUndefined();
    expect(o.body.toString()).toBe("first-second-third");
    expect(o.arg).toEqual({ request: "/x" });
    expect(o.calls).toBe(1);
  });

  it("gives a one-piece body as sent and an absent body as empty", async () => {
    const one = await collect(64, async (port) => expect(await post(port, [Buffer.from("abc")], { "content-length": 3 })).toBe(200));
    expect(one.body.toString()).toBe("abc");
    const none = await collect(64, async (port) => expect(await post(port, [])).toBe(200));
    expect(none.refused).toBeUndefined();
    expect(none.body.length).toBe(0);
  });

  it("refuses a streamed body once it passes the cap, once, without waiting for the rest", async () => {
    const o = await collect(10, (port) => post(port, [Buffer.alloc(8, 1), Buffer.alloc(8, 2), Buffer.alloc(8, 3)]).then(() => undefined));
    expect(o.refused).toBe("tooLarge");
    expect(o.body.length).toBe(0);
    expect(o.calls).toBe(1);
  });

  it("refuses a declared length over the cap before reading, and a compressed body", async () => {
    const big = await collect(10, (port) => post(port, [Buffer.alloc(20)], { "content-length": 20 }).then(() => undefined));
    expect(big.refused).toBe("tooLarge");
    const gz = await collect(100, (port) => post(port, [Buffer.alloc(5)], { "content-length": 5, "content-encoding": "gzip" }).then(() => undefined));
    expect(gz.refused).toBe("encoded");
    expect(gz.calls).toBe(1);
  });
});
