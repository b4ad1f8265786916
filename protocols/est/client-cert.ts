import { X509Certificate as Cert } from "node:crypto";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";

const MAX_DEPTH = 6;

/**
 * The chain parsed for a connection, with its leaf's fingerprint: a keep-alive client sends many requests over
 * one handshake, and converting and parsing its certificates again for each showed in mutual-TLS profiles. The
 * fingerprint is checked on every request, so a renegotiation that brings another certificate is parsed afresh.
 * Held per socket (a WeakMap: gone with the connection); only the parsing is kept, never a verdict — the chain
 * is verified, and its inventory record looked up, on every request.
 */
const parsedBySocket = new WeakMap<TLSSocket, { fingerprint: string; chain: Cert[] }>();

/** The certificates a TLS client presented: its own first, then whatever chain it sent. */
export function presentedChain(socket: TLSSocket): Cert[] {
  const leaf = socket.getPeerX509Certificate?.();
  if (!leaf) return [];
  const fingerprint = leaf.fingerprint256;
  const known = parsedBySocket.get(socket);
  if (known && known.fingerprint === fingerprint) return known.chain;
  const chain = parseChain(socket);
  parsedBySocket.set(socket, { fingerprint, chain });
  return chain;
}

function parseChain(socket: TLSSocket): Cert[] {
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
