import type { CertFacts } from "./facts.js";

/** Finding flags, most urgent first. */
export type WeaknessFlag =
  | "expired" // notAfter has passed
  | "expiring" // within warnDays
  | "weak-key" // RSA/DSA < 2048 bits, EC < 256 bits
  | "weak-signature" // MD2/MD4/MD5/SHA-1
  | "long-validity" // leaf TLS certificate valid for more than 398 days
  | "self-signed"; // a leaf (not a CA) that signed itself

export const FLAG_ORDER: readonly WeaknessFlag[] = ["expired", "expiring", "weak-key", "weak-signature", "long-validity", "self-signed"];

/** CA/Browser Forum maximum for TLS server certificates issued since 2020-09-01. */
export const MAX_TLS_LEAF_DAYS = 398;

const WEAK_HASHES = new Set(["md2", "md4", "md5", "sha1"]);

export function weakSignatureHash(hash: string): boolean {
  return WEAK_HASHES.has(hash);
}

/** Key too small for today's classical attacks (independent of quantum computers). */
export function weakKey(f: Pick<CertFacts, "keyFamily" | "keySize">): boolean {
  if (f.keySize === undefined) return false;
  if (f.keyFamily === "rsa" || f.keyFamily === "dsa") return f.keySize < 2048;
  if (f.keyFamily === "ec") return f.keySize < 256;
  return false;
}

export interface AssessOptions {
  now: Date;
  warnDays: number;
  /** Presented as the leaf by a TLS server (the validity rule then applies even without a serverAuth EKU). */
  tlsLeaf?: boolean;
}

export function assess(f: CertFacts, o: AssessOptions): WeaknessFlag[] {
  const flags = new Set<WeaknessFlag>();
  const notAfter = Date.parse(f.notAfter);
  if (notAfter <= o.now.getTime()) flags.add("expired");
  else if (notAfter <= o.now.getTime() + o.warnDays * 86_400_000) flags.add("expiring");
  if (weakKey(f)) flags.add("weak-key");
  if (weakSignatureHash(f.signatureHash)) flags.add("weak-signature");
  const leaf = !f.isCa;
  if (leaf && (f.serverAuth || o.tlsLeaf) && f.lifetimeDays > MAX_TLS_LEAF_DAYS) flags.add("long-validity");
  if (leaf && f.selfSigned) flags.add("self-signed");
  return FLAG_ORDER.filter((x) => flags.has(x));
}
