import { isIP } from "node:net";
import { connect, type DetailedPeerCertificate } from "node:tls";

export interface TlsTarget {
  host: string;
  port: number;
  /** "tls://host:port" ("tls://[::1]:443" for IPv6). */
  location: string;
}

export interface FetchOptions {
  timeoutMs: number;
  /** Longest chain kept (leaf included). */
  maxChain?: number;
}

export const DEFAULT_MAX_CHAIN = 10;

/** "host:port", "[v6]:port", "host" (port 443) → target; throws on anything else. */
export function parseTarget(text: string): TlsTarget {
  const t = text.trim();
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(t) ?? /^([A-Za-z0-9_.-]+)(?::(\d{1,5}))?$/.exec(t);
  if (!m || (t.startsWith("[") && isIP(m[1]) !== 6)) throw new Error(`not a host:port target: ${JSON.stringify(text.slice(0, 100))}`);
  const host = m[1].toLowerCase();
  const port = m[2] ? Number(m[2]) : 443;
  if (port < 1 || port > 65_535) throw new Error(`port out of range in ${text}`);
  return { host, port, location: `tls://${isIP(host) === 6 ? `[${host}]` : host}:${port}` };
}

/**
 * Connects, completes the handshake without judging the peer, and returns the chain it presented
 * as DER, leaf first. Old servers are reached too (TLS 1.0+, any security level): this only looks.
 */
export function fetchPeerChain(t: TlsTarget, o: FetchOptions): Promise<Uint8Array[]> {
  const maxChain = o.maxChain ?? DEFAULT_MAX_CHAIN;
  return new Promise((resolve, reject) => {
    let done = false;
    const sock = connect({
      host: t.host, port: t.port, servername: isIP(t.host) ? undefined : t.host, rejectUnauthorized: false,
      minVersion: "TLSv1", ciphers: "ALL:@SECLEVEL=0",
    });
    const finish = (err: Error | undefined, chain?: Uint8Array[]) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        sock.destroy();
        reject(err);
      } else {
        sock.end();
        resolve(chain ?? []);
      }
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${o.timeoutMs} ms`)), o.timeoutMs);
    sock.once("secureConnect", () => {
      try {
        finish(undefined, walkChain(sock.getPeerCertificate(true), maxChain));
      } catch (e) {
        finish(e as Error);
      }
    });
    sock.on("error", (e) => finish(e));
    sock.once("close", () => finish(new Error("connection closed before the handshake completed")));
  });
}

/** Follows issuerCertificate until it points at itself (a root), repeats, or the cap is reached. */
function walkChain(leaf: DetailedPeerCertificate, maxChain: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  let c: DetailedPeerCertificate | undefined = leaf;
  while (c && c.raw && out.length < maxChain && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new Uint8Array(c.raw));
    c = c.issuerCertificate === c ? undefined : c.issuerCertificate;
  }
  return out;
}
