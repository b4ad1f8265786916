import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import { AcmeClient } from "../helpers/acme-client.js";
import { csrForName } from "./csr-fast.js";
import type { BenchServer } from "./acme-servers.js";

/** Serves every published key authorization: the load generator answers http-01 itself. */
export class Http01Answers {
  readonly map = new Map<string, string>();
  private constructor(private readonly server: Server) {}
  static async listen(port: number): Promise<Http01Answers> {
    let self: Http01Answers | undefined;
    const server = createServer((req, res) => {
      const token = req.url?.split("/.well-known/acme-challenge/")[1] ?? "";
      const v = self!.map.get(token);
      res.writeHead(v ? 200 : 404).end(v ?? "");
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((r, j) => server.once("error", j).listen(port, "127.0.0.1", r));
    self = new Http01Answers(server);
    return self;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

export interface LoadResult {
  certs: number;
  seconds: number;
  latenciesMs: number[];
  errors: number;
  firstErrors: string[];
}

/** One full flow: newOrder → authz → challenge → poll → finalize → poll → download. */
async function oneCertificate(c: AcmeClient, csrKey: KeyObject, name: string, answers: Http01Answers): Promise<void> {
  const order = await c.newOrder([{ type: "dns", value: name }]);
  if (order.status !== 201) throw new Error(`newOrder ${order.status} ${order.body.toString().slice(0, 200)}`);
  for (const url of order.json.authorizations as string[]) {
    const authz = (await c.post(url, "")).json;
    if (authz.status !== "valid") {
      const ch = authz.challenges.find((x: { type: string }) => x.type === "http-01");
      answers.map.set(ch.token, c.keyAuthorization(ch.token));
      const r = await c.post(ch.url, {});
      if (r.status !== 200) throw new Error(`challenge ${r.status} ${r.body.toString().slice(0, 200)}`);
      const done = await c.poll(url, (a) => a.status !== "pending", { intervalMs: 5 });
      answers.map.delete(ch.token);
      if (done.status !== "valid") throw new Error(`authz ${done.status} ${JSON.stringify(done.challenges)}`);
    }
  }
  let fin = (await c.finalize(order.json.finalize, csrForName(csrKey, name))).json;
  if (fin.status === "processing") fin = await c.poll(order.location!, (o) => o.status !== "processing", { intervalMs: 5 });
  if (fin.status !== "valid") throw new Error(`order ${fin.status} ${JSON.stringify(fin.error ?? fin)}`);
  await c.downloadCertificate(fin.certificate);
}

/**
 * N clients, one account each (made before timing), each looping full flows for `seconds`
 * after a warm-up. The CSR key is a separate P-256 key per client (never the account key).
 */
export async function runLoad(server: BenchServer, o: { clients: number; seconds: number; warmupSeconds: number; answers: Http01Answers; tag: string }): Promise<LoadResult> {
  const clients = await Promise.all(Array.from({ length: o.clients }, async () => {
    const c = await AcmeClient.create({ directoryUrl: server.directoryUrl, caPem: server.caPem });
    const res = await c.newAccount({ termsOfServiceAgreed: true });
    if (res.status !== 201) throw new Error(`newAccount on ${server.name}: ${res.status} ${res.body.toString()}`);
    return { c, csrKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey };
  }));
  const result: LoadResult = { certs: 0, seconds: o.seconds, latenciesMs: [], errors: 0, firstErrors: [] };
  const start = performance.now();
  const measureFrom = start + o.warmupSeconds * 1000;
  const end = measureFrom + o.seconds * 1000;
  let seq = 0;
  await Promise.all(clients.map(async ({ c, csrKey }, i) => {
    while (performance.now() < end) {
      const name = `c${i}-o${seq++}-${o.tag}.bench.test`;
      const t0 = performance.now();
      try {
        await oneCertificate(c, csrKey, name, o.answers);
        if (t0 >= measureFrom) {
          result.certs++;
          result.latenciesMs.push(performance.now() - t0);
        }
      } catch (e) {
        result.errors++;
        if (result.firstErrors.length < 3) result.firstErrors.push((e as Error).message);
      }
    }
  }));
  return result;
}
