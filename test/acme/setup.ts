import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { AcmeClient, type JwsAlg } from "../helpers/acme-client.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";

/** Answers http-01 for every token published to it, as a client's web server would. */
export class Http01Responder {
  readonly answers = new Map<string, string>();
  hits = 0;
  private constructor(readonly server: Server, readonly port: number) {}
  static async start(): Promise<Http01Responder> {
    let self: Http01Responder | undefined;
    const server = createServer((req, res) => {
      self!.hits++;
      const token = req.url?.split("/.well-known/acme-challenge/")[1];
      const body = token ? self!.answers.get(token) : undefined;
      res.writeHead(body ? 200 : 404, { "content-type": "text/plain" }).end(body ?? "no such token");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    self = new Http01Responder(server, (server.address() as AddressInfo).port);
    return self;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

export interface AcmeTestEnv {
  t: TestGateway;
  servers: RunningServers;
  http01: Http01Responder;
  rootPem: string;
  directory(endpoint?: string): string;
  client(o?: { alg?: JwsAlg; endpoint?: string }): Promise<AcmeClient>;
  /** A client with a fresh account. */
  account(o?: { alg?: JwsAlg; endpoint?: string }): Promise<AcmeClient>;
  close(): Promise<void>;
}

/**
 * A gateway on ephemeral ports with real http-01 validation against a local responder:
 * every name under example.com resolves to 127.0.0.1 through hostOverrides. `gateway` adds other config (e.g. `store`).
 */
export async function acmeEnv(acme: Record<string, unknown> = {}, extraProfiles: Record<string, string> = {}, gateway: Record<string, unknown> = {}): Promise<AcmeTestEnv> {
  const http01 = await Http01Responder.start();
  const validation = { httpPort: http01.port, allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.example.com": "127.0.0.1" }, timeoutMs: 3000, ...(acme.validation as object) };
  const t = await testGateway({ ...gateway, acme: { ...acme, validation } }, extraProfiles);
  const servers = await startServers(t.gw);
  const rootPem = readFileSync(join(t.config.dataDir, "cas", "dev-root", "cert.pem"), "utf8");
  const directory = (endpoint = "default") => `${t.gw.urls.https}/acme${endpoint === "default" ? "" : `/${endpoint}`}/directory`;
  const client = (o: { alg?: JwsAlg; endpoint?: string } = {}) => AcmeClient.create({ directoryUrl: directory(o.endpoint), caPem: rootPem, alg: o.alg });
  return {
    t, servers, http01, rootPem, directory, client,
    async account(o = {}) {
      const c = await client(o);
      const res = await c.newAccount({ termsOfServiceAgreed: true });
      if (res.status !== 201) throw new Error(`newAccount: ${res.status} ${res.body.toString()}`);
      return c;
    },
    async close() {
      await servers.close();
      await http01.close();
      await t.gw.close();
    },
  };
}

export const PROBLEM = (type: string) => `urn:ietf:params:acme:error:${type}`;
