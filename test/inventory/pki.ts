import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { genKey, openssl, type KeyKind } from "../helpers/openssl.js";

/** A certificate made by OpenSSL: files and the PEM text. */
export interface Made {
  cert: string;
  key: string;
  pem: string;
}

export interface MakeOptions {
  subject: string; // "/CN=x"
  key?: KeyKind;
  days: number;
  digest?: "sha1" | "sha256" | "sha384";
  /** Signed by this CA; self-signed otherwise. */
  issuer?: Made;
  ca?: boolean;
  sans?: string; // "DNS:a,IP:127.0.0.1"
  serverAuth?: boolean;
}

/** Makes a certificate with the OpenSSL CLI (leaf or CA, self-signed or under an issuer). */
export function makeCert(dir: string, name: string, o: MakeOptions): Made {
  const key = genKey(dir, name, o.key ?? "ec-p256");
  const cert = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, [
    "[req]", "distinguished_name=dn", "[dn]",
    "[v]",
    o.ca ? "basicConstraints=critical,CA:TRUE" : "basicConstraints=critical,CA:FALSE",
    o.ca ? "keyUsage=critical,keyCertSign,cRLSign" : "keyUsage=critical,digitalSignature,keyEncipherment",
    "subjectKeyIdentifier=hash",
    ...(o.issuer ? ["authorityKeyIdentifier=keyid"] : []),
    ...(o.sans ? [`subjectAltName=${o.sans}`] : []),
    ...(o.serverAuth ? ["extendedKeyUsage=serverAuth"] : []),
    "",
  ].join("\n"));
  const digest = `-${o.digest ?? "sha256"}`;
  if (o.issuer) {
    const csr = join(dir, `${name}.csr`);
    openssl(["req", "-new", "-key", key, "-subj", o.subject, "-out", csr]);
    openssl(["x509", "-req", "-in", csr, "-CA", o.issuer.cert, "-CAkey", o.issuer.key, "-set_serial", `0x${randomBytes(12).toString("hex")}`,
      "-days", String(o.days), digest, "-extfile", ext, "-extensions", "v", "-out", cert]);
  } else {
    openssl(["req", "-x509", "-new", "-key", key, "-subj", o.subject, "-days", String(o.days), digest, "-config", ext, "-extensions", "v",
      "-out", cert]);
  }
  return { cert, key, pem: readFileSync(cert, "utf8") };
}

export function pemToDerBytes(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ""), "base64"));
}

/** A TLS server on 127.0.0.1 presenting `chain` (leaf first); answers nothing. */
export async function tlsServer(leaf: Made, chain: Made[] = []): Promise<{ server: Server; port: number; target: string }> {
  const server = createServer({ key: readFileSync(leaf.key), cert: [leaf.pem, ...chain.map((c) => c.pem)].join(""), ciphers: "DEFAULT:@SECLEVEL=0" }, (s) => s.end());
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  return { server, port, target: `127.0.0.1:${port}` };
}
