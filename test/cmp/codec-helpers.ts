import { createPrivateKey, createPublicKey, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { opensslAsync, tempDir } from "../helpers/openssl.js";

/** Key, certificate (PEM path) and DER of one party. */
export interface Party {
  key: string;
  cert: string;
  der: Uint8Array;
  privateKey: KeyObject;
}

export interface CmpPki {
  dir: string;
  ca: Party;
  /** The RA's CMP protection certificate (EC P-256, digitalSignature, SKI), issued by the CA. */
  ra: Party;
  /** Client certificates for signature protection, issued by the CA. */
  client: Party;
  rsaClient: Party;
  edClient: Party;
  /** The key the client enrolls and a certificate the CA issued for it (what the in-test RA returns). */
  newKey: string;
  newKeySpki: Uint8Array;
  issued: Party;
}

export async function ok(args: string[]): Promise<string> {
  const r = await opensslAsync(args);
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")} failed:\n${r.out}`);
  return r.out;
}

const certDer = (path: string) => new Uint8Array(new X509Certificate(readFileSync(path)).raw);

export async function makePki(): Promise<CmpPki> {
  const dir = tempDir("cmp-");
  const p = (n: string) => join(dir, n);
  writeFileSync(p("ext.cnf"), [
    "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash",
    "[ee]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid",
    "[nokid]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
  ].join("\n"));
  await ok(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("ca.key"), "-subj", "/O=CMP Test/CN=CMP Test CA",
    "-days", "2", "-extensions", "ca", "-config", p("ext.cnf"), "-out", p("ca.pem")]);
  const party = async (name: string, keyArgs: string[], ext = "ee", subject = `/O=CMP Test/CN=${name}`): Promise<Party> => {
    await ok(["genpkey", ...keyArgs, "-out", p(`${name}.key`)]);
    await ok(["req", "-new", "-key", p(`${name}.key`), "-subj", subject, "-out", p(`${name}.csr`)]);
    await ok(["x509", "-req", "-in", p(`${name}.csr`), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-set_serial", `0x1${randomBytes(15).toString("hex")}`, "-days", "1",
      "-extfile", p("ext.cnf"), "-extensions", ext, "-out", p(`${name}.pem`)]);
    return { key: p(`${name}.key`), cert: p(`${name}.pem`), der: certDer(p(`${name}.pem`)), privateKey: createPrivateKey(readFileSync(p(`${name}.key`))) };
  };
  const ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
  const [ra, client, rsaClient, edClient, issued] = await Promise.all([
    party("ra", ec), party("client", ec), party("rsa-client", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
    party("ed-client", ["-algorithm", "ED25519"]), party("issued", ec, "nokid", "/CN=device.example.com"),
  ]);
  const ca: Party = { key: p("ca.key"), cert: p("ca.pem"), der: certDer(p("ca.pem")), privateKey: createPrivateKey(readFileSync(p("ca.key"))) };
  const newKeySpki = new Uint8Array(createPublicKey(issued.privateKey).export({ type: "spki", format: "der" }));
  return { dir, ca, ra, client, rsaClient, edClient, newKey: issued.key, newKeySpki, issued };
}

/** Sign callback for signProtect with a software key. */
export const softSign = (key: KeyObject) => async (data: Uint8Array, hash: string) => new Uint8Array(sign(hash, data, key));

export type Handler = (der: Uint8Array, index: number) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

/**
 * The HTTP end `openssl cmp -server` talks to: records every request body and answers with `handler`'s
 * DER (application/pkixcmp), or 500 when it returns nothing (capture only).
 */
export class CmpStub {
  requests: Uint8Array[] = [];
  handler?: Handler;
  handlerErrors: unknown[] = [];
  private constructor(private readonly server: Server, readonly address: string) {}

  static async start(): Promise<CmpStub> {
    let stub: CmpStub | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        const der = new Uint8Array(Buffer.concat(chunks));
        const index = stub!.requests.push(der) - 1;
        let answer: Uint8Array | undefined;
        try {
          answer = await stub!.handler?.(der, index);
        } catch (e) {
          stub!.handlerErrors.push(e);
        }
        if (!answer) {
          res.statusCode = 500;
          res.end();
          return;
        }
        res.setHeader("Content-Type", "application/pkixcmp");
        res.end(Buffer.from(answer));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    stub = new CmpStub(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return stub;
  }

  /** Clears the recorded requests and sets the handler for the next exchange. */
  reset(handler?: Handler): void {
    this.requests = [];
    this.handlerErrors = [];
    this.handler = handler;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** Runs `openssl cmp` against the stub (never blocks the event loop the stub needs). */
export function cmp(stub: CmpStub, args: string[]): Promise<{ code: number; out: string }> {
  return opensslAsync(["cmp", "-server", `${stub.address}/cmp`, "-msg_timeout", "10", "-total_timeout", "20", "-batch", ...args], 30_000);
}
