import { X509Certificate as Cert } from "node:crypto";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";

const MAX_DEPTH = 6;

/** The certificates a TLS client presented: its own first, then whatever chain it sent. */
export function presentedChain(socket: TLSSocket): Cert[] {
  // With requestCert and no verification by Node, an absent certificate is an empty object.
  let peer: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const out: Cert[] = [];
  const seen = new Set<string>();
  while (peer?.raw && out.length < MAX_DEPTH) {
    const fp = peer.fingerprint256;
    if (seen.has(fp)) break; // a self-signed certificate is its own issuer
    seen.add(fp);
    out.push(new Cert(peer.raw));
    peer = peer.issuerCertificate;
  }
  return out;
}

export { loadAnchors, verifyChain, type VerifiedChain } from "../../src/ca/chain.js";
