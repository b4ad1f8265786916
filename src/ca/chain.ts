import { X509Certificate as Cert } from "node:crypto";
import { readFileSync } from "node:fs";
import { GatewayError } from "../errors.js";

const MAX_DEPTH = 6;
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const ANY_EKU = "2.5.29.37.0";

/** Reads every certificate in PEM files (trust anchor configuration); a bad file stops the start. */
export function loadAnchors(files: string[], what: string): Cert[] {
  const out: Cert[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (e) {
      throw new GatewayError("RA_ERR_CONFIG", `${what}: cannot read ${f} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    }
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (!blocks.length) throw new GatewayError("RA_ERR_CONFIG", `${what}: ${f} holds no PEM certificate`);
    for (const b of blocks) out.push(new Cert(b));
  }
  return out;
}

function validAt(c: Cert, now: number, graceMs = 0): boolean {
  return Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo) + graceMs;
}

function issuedBy(child: Cert, parent: Cert): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

export interface VerifiedChain {
  leaf: Cert;
  anchor: Cert;
}

/**
 * Path validation for a client certificate: each link's signature, issuer name, CA flag and
 * validity, ending at one of `anchors`. `graceMs` extends only the leaf's notAfter (re-enrollment
 * of a just-expired certificate). Revocation of our own certificates is checked by the caller
 * against the inventory; foreign anchors are trusted as configured.
 */
export function verifyChain(presented: Cert[], anchors: Cert[], now = Date.now(), graceMs = 0): VerifiedChain | undefined {
  const eku = presented[0]?.keyUsage;
  if (eku && eku.length && !eku.includes(CLIENT_AUTH) && !eku.includes(ANY_EKU)) return undefined;
  return verifyPath(presented, anchors, now, graceMs);
}

/** The path checks of `verifyChain` without any EKU rule (attestation certificates carry their own). */
export function verifyPath(presented: Cert[], anchors: Cert[], now = Date.now(), graceMs = 0): VerifiedChain | undefined {
  const [leaf, ...rest] = presented;
  if (!leaf || !anchors.length || !validAt(leaf, now, graceMs)) return undefined;
  let current = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const anchor = anchors.find((a) => (a.raw.equals(current.raw) && depth > 0) || issuedBy(current, a));
    if (anchor) return validAt(anchor, now) ? { leaf, anchor } : undefined;
    const next = rest.find((c) => c.ca && validAt(c, now) && issuedBy(current, c));
    if (!next) return undefined;
    current = next;
  }
  return undefined;
}
