import { hash, X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, SubjectKeyIdentifier, id_ce_subjectKeyIdentifier } from "@peculiar/asn1-x509";
import { childSpans, header } from "../asn1/der-walk.js";
import { readSecret } from "../config/load.js";
import { GatewayError } from "../errors.js";
import type { Signer, SignatureAlgorithmName } from "../signers/signer.js";
import { SoftwareSigner } from "../signers/software.js";

import { signerRefSchema, type SignerRef } from "./signer-ref.js";

export { signerRefSchema, type SignerRef } from "./signer-ref.js";

/** `ca.json` in each CA directory, written by `gateway ca init`. Paths are relative to that directory. */
export const caDescriptorSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  role: z.enum(["root", "issuing"]),
  certFile: z.string(),
  /** Certificates above this one, nearest first, up to the root. */
  chainFiles: z.array(z.string()).default([]),
  signer: signerRefSchema,
  /** Delegated OCSP responder certificate and key (issuing CAs). */
  ocsp: z.object({ certFile: z.string(), signer: signerRefSchema }).strict().optional(),
}).strict();
export type CaDescriptor = z.infer<typeof caDescriptorSchema>;

export interface CertificateAuthority {
  name: string;
  role: "root" | "issuing";
  dir: string;
  cert: X509Certificate;
  certDer: Uint8Array;
  /** DER certificates above this CA, nearest first. */
  chain: Uint8Array[];
  signer: Signer;
  /** Subject key identifier, used as AKI in what this CA signs. */
  keyId: Uint8Array;
  subjectDer: Uint8Array;
  ocsp?: { cert: X509Certificate; certDer: Uint8Array; signer: Signer };
}

export type SignerOpener = (ref: SignerRef, baseDir: string, id: string) => Promise<Signer>;

/** Opens a signer; PKCS#11 is loaded lazily so the software-only path never touches native PKCS#11 code. */
export const openSigner: SignerOpener = async (ref, baseDir, id) => {
  if (ref.type === "software") {
    return SoftwareSigner.fromPem(`software:${id}`, readFileSync(resolve(baseDir, ref.keyFile), "utf8"), ref.algorithm as SignatureAlgorithmName);
  }
  const { openPkcs11Signer } = await import("../signers/pkcs11.js");
  const pin = ref.pin ? readSecret(ref.pin, `CA ${id} PKCS#11 PIN`) : undefined;
  return openPkcs11Signer({ uri: ref.uri, modulePath: ref.module, pin, algorithm: ref.algorithm as SignatureAlgorithmName });
};

export async function loadAuthority(dir: string, opener: SignerOpener = openSigner): Promise<CertificateAuthority> {
  const path = join(dir, "ca.json");
  const parsed = caDescriptorSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) throw new GatewayError("RA_ERR_CONFIG", `${path}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const d = parsed.data;
  const certDer = pemToDer(readFileSync(resolve(dir, d.certFile), "utf8"));
  const cert = new X509Certificate(certDer);
  const signer = await opener(d.signer, dir, d.name);
  if (!signer.publicKey.equals(cert.publicKey)) {
    throw new GatewayError("RA_ERR_CONFIG", `CA ${d.name}: the signer's key does not match ${d.certFile}`);
  }
  const chain = d.chainFiles.map((f) => pemToDer(readFileSync(resolve(dir, f), "utf8")));
  let ocsp: CertificateAuthority["ocsp"];
  if (d.ocsp) {
    const ocspDer = pemToDer(readFileSync(resolve(dir, d.ocsp.certFile), "utf8"));
    ocsp = { cert: new X509Certificate(ocspDer), certDer: ocspDer, signer: await opener(d.ocsp.signer, dir, `${d.name}-ocsp`) };
  }
  return { name: d.name, role: d.role, dir, cert, certDer, chain, signer, keyId: keyIdOf(cert), subjectDer: subjectDerOf(certDer), ocsp };
}

/** Loads every CA directory under `<dataDir>/cas` plus configured extra directories. */
export async function loadAuthorities(dirs: string[], opener: SignerOpener = openSigner): Promise<CaRegistry> {
  const all: CertificateAuthority[] = [];
  for (const dir of dirs) if (existsSync(join(dir, "ca.json"))) all.push(await loadAuthority(dir, opener));
  return new CaRegistry(all);
}

export function caDirsUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(root, e.name)).sort();
}

export class CaRegistry {
  private readonly byName = new Map<string, CertificateAuthority>();
  constructor(readonly all: CertificateAuthority[]) {
    for (const ca of all) {
      if (this.byName.has(ca.name)) throw new GatewayError("RA_ERR_CONFIG", `two CAs are named ${ca.name}`);
      this.byName.set(ca.name, ca);
    }
  }
  get issuing(): CertificateAuthority[] {
    return this.all.filter((c) => c.role === "issuing");
  }
  /** "default" is the first issuing CA. */
  get(name: string): CertificateAuthority {
    const ca = name === "default" ? this.issuing[0] : this.byName.get(name);
    if (!ca) throw new GatewayError("RA_ERR_CONFIG", `no CA named ${name}`);
    return ca;
  }
  find(name: string): CertificateAuthority | undefined {
    return name === "default" ? this.issuing[0] : this.byName.get(name);
  }
}

export function pemToDer(pem: string): Uint8Array {
  const m = /-----BEGIN [A-Z0-9 ]+-----([\s\S]+?)-----END [A-Z0-9 ]+-----/.exec(pem);
  if (!m) throw new Error("no PEM block found");
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}

export function derToPem(der: Uint8Array, label = "CERTIFICATE"): string {
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** RFC 7093 method 1: leftmost 160 bits of SHA-256 over the subjectPublicKey BIT STRING contents. */
export function keyIdForSpki(spkiDer: Uint8Array): Uint8Array {
  return new Uint8Array(hash("sha256", subjectPublicKeyBits(spkiDer), "buffer").subarray(0, 20));
}


/** Contents of the subjectPublicKey BIT STRING, after its unused-bits octet. */
function subjectPublicKeyBits(spkiDer: Uint8Array): Uint8Array {
  const [, keySpan] = childSpans(spkiDer);
  return spkiDer.subarray(header(spkiDer, keySpan[0]).contentStart + 1, keySpan[1]);
}

/** The certificate's subject key identifier extension, or the RFC 7093 key id of its key when it has none. */
export function keyIdOf(cert: X509Certificate): Uint8Array {
  const asn = AsnConvert.parse(cert.raw, Certificate);
  const ext = asn.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  if (ext) return new Uint8Array(AsnConvert.parse(ext.extnValue, SubjectKeyIdentifier).buffer);
  return keyIdForSpki(new Uint8Array(cert.publicKey.export({ type: "spki", format: "der" })));
}

function subjectDerOf(certDer: Uint8Array): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(AsnConvert.parse(certDer, Certificate).tbsCertificate.subject));
}
