import { timingSafeEqual } from "node:crypto";
import type { TLSSocket } from "node:tls";

/**
 * The TLS channel binding a CSR must carry when proof-of-possession linking is on
 * (RFC 7030 §3.5): tls-unique (RFC 5929) on TLS 1.2 — the first Finished message of the
 * latest handshake, the client's on a full handshake and ours on a resumed one — and
 * tls-exporter (RFC 9266) on TLS 1.3, where tls-unique is not defined (an empty context equals none in TLS 1.3, RFC 8446 §7.5).
 */
export function channelBinding(socket: TLSSocket): { type: "tls-unique" | "tls-exporter"; value: Buffer } | undefined {
  const version = socket.getProtocol();
  if (version === "TLSv1.3") return { type: "tls-exporter", value: socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)) };
  if (version === "TLSv1.2") {
    const first = socket.isSessionReused() ? socket.getFinished() : socket.getPeerFinished();
    return first ? { type: "tls-unique", value: first } : undefined;
  }
  return undefined;
}

/** The CSR's challengePassword holds the binding in base64; compared in constant time. */
export function bindingMatches(challengePassword: string | undefined, binding: Buffer): boolean {
  if (!challengePassword) return false;
  const text = challengePassword.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return false;
  const got = Buffer.from(text, "base64");
  return got.length === binding.length && timingSafeEqual(got, binding);
}
