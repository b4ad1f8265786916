import { connect, type TLSSocket } from "node:tls";
import { ipToBytes } from "../../../src/asn1/ip.js";
import { GatewayError } from "../../../src/errors.js";
import { connectCandidates } from "./address-guard.js";
import { checkChallengeCertificate } from "./challenge-cert.js";
import type { ValidationContext } from "./context.js";
import type { ValidationInput, ValidationRecord } from "./types.js";

const ACME_TLS = "acme-tls/1";

/** RFC 8738 §6: an IP identifier is sent in SNI as its reverse-DNS name. */
export function reverseName(ip: string): string {
  const b = ipToBytes(ip);
  if (b.length === 4) return `${[...b].reverse().join(".")}.in-addr.arpa`;
  return `${[...Buffer.from(b).toString("hex")].reverse().join(".")}.ip6.arpa`;
}

/** Failed before the TLS layer answered at all: worth trying the other address family. */
class ConnectFailure extends GatewayError {}

/** Socket-level codes mean "could not reach"; anything else (alerts, bad records) is the TLS exchange failing. */
const NET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ETIMEDOUT", "EPIPE"]);

/** One handshake offering only acme-tls/1; returns what the server chose and its certificate, then closes. */
function handshake(address: string, port: number, servername: string, signal: AbortSignal): Promise<{ der: Buffer | undefined; alpn: string | false }> {
  let socket: TLSSocket | undefined;
  const abort = () => socket?.destroy();
  return new Promise<{ der: Buffer | undefined; alpn: string | false }>((resolve, reject) => {
    if (signal.aborted) return reject(new GatewayError("RA_ERR_VALIDATION_CONNECTION", "validation timed out"));
    signal.addEventListener("abort", abort, { once: true });
    // Certificates are self-signed by design: trust comes from the extension, not a chain.
    socket = connect({ host: address, port, servername, ALPNProtocols: [ACME_TLS], rejectUnauthorized: false, minVersion: "TLSv1.2" }, () => {
      const cert = socket?.getPeerCertificate(false);
      resolve({ der: cert && "raw" in cert ? cert.raw : undefined, alpn: socket?.alpnProtocol ?? false });
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      const code = e.code ?? e.message;
      if (NET_CODES.has(code)) reject(new ConnectFailure("RA_ERR_VALIDATION_CONNECTION", `connecting to ${address}:${port}: ${code}`));
      else if (/NO_APPLICATION_PROTOCOL/.test(code)) reject(new GatewayError("RA_ERR_VALIDATION_TLS", `${address}:${port} does not offer the ${ACME_TLS} protocol`));
      else reject(new GatewayError("RA_ERR_VALIDATION_TLS", `TLS with ${address}:${port} failed: ${code}`));
    });
    socket.on("close", () => reject(new GatewayError("RA_ERR_VALIDATION_TLS", `${address}:${port} closed the connection during the TLS handshake`)));
  }).finally(() => {
    signal.removeEventListener("abort", abort);
    socket?.destroy();
  });
}

/**
 * tls-alpn-01 (RFC 8737): `acme-tls/1` must be negotiated and the certificate must prove the
 * key authorization (see challenge-cert.ts).
 */
export async function validateTlsAlpn01(input: ValidationInput, ctx: ValidationContext): Promise<void> {
  const { cfg, guard, resolver, signal, records } = ctx;
  const { type, value } = input.identifier;
  const record: ValidationRecord = { hostname: value, port: cfg.tlsAlpnPort };
  records.push(record);
  const { resolved, allowed } = await guard.resolve(value, resolver);
  record.addressesResolved = resolved;
  const servername = type === "ip" ? reverseName(value) : value.replace(/\.$/, "");
  const candidates = connectCandidates(allowed);
  let answer: { der: Buffer | undefined; alpn: string | false } | undefined;
  for (let i = 0; !answer; i++) {
    record.addressUsed = candidates[i];
    try {
      answer = await handshake(candidates[i], cfg.tlsAlpnPort, servername, signal);
    } catch (e) {
      if (!(e instanceof ConnectFailure) || i + 1 >= candidates.length || signal.aborted) throw e;
    }
  }
  if (answer.alpn !== ACME_TLS) throw new GatewayError("RA_ERR_VALIDATION_TLS", `the server did not negotiate the ${ACME_TLS} protocol`);
  if (!answer.der) throw new GatewayError("RA_ERR_VALIDATION_TLS", "the server sent no certificate");
  checkChallengeCertificate(new Uint8Array(answer.der), input.identifier, input.keyAuthorization);
}
