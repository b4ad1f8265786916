import "reflect-metadata";
import { createHash } from "node:crypto";
import { connect } from "node:tls";
import { SubjectAlternativeNameExtension, X509Certificate } from "@peculiar/x509";
import { ipToBytes } from "../../../src/asn1/ip.js";
import { GatewayError } from "../../../src/errors.js";
import type { AcmeValidationConfig } from "../config.js";
import type { AddressGuard } from "./address-guard.js";
import type { ValidationInput, ValidationRecord } from "./types.js";

const ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31";

/** RFC 8738 §6: an IP identifier is named in SNI by its reverse-DNS name. */
export function reverseName(ip: string): string {
  const b = ipToBytes(ip);
  if (b.length === 4) return `${[...b].reverse().join(".")}.in-addr.arpa`;
  return `${[...Buffer.from(b).toString("hex")].reverse().join(".")}.ip6.arpa`;
}

function peerCertificate(address: string, port: number, servername: string, signal: AbortSignal): Promise<{ der: Buffer; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, servername, ALPNProtocols: ["acme-tls/1"], rejectUnauthorized: false }, () => {
      const der = socket.getPeerCertificate(false)?.raw;
      const alpn = socket.alpnProtocol ?? false;
      socket.destroy();
      if (!der) reject(new GatewayError("RA_ERR_VALIDATION_TLS", "the server sent no certificate"));
      else resolve({ der, alpn });
    });
    const abort = () => socket.destroy(new GatewayError("RA_ERR_VALIDATION_CONNECTION", "timed out"));
    signal.addEventListener("abort", abort, { once: true });
    socket.on("close", () => signal.removeEventListener("abort", abort));
    socket.on("error", (e) => reject(e instanceof GatewayError ? e : new GatewayError("RA_ERR_VALIDATION_TLS", `TLS to ${address}:${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
  });
}

/**
 * tls-alpn-01 (RFC 8737): `acme-tls/1` must be negotiated; the certificate must name exactly the
 * identifier and carry a critical acmeIdentifier extension with SHA-256 of the key authorization.
 */
export async function validateTlsAlpn01(input: ValidationInput, cfg: AcmeValidationConfig, guard: AddressGuard, signal: AbortSignal, records: ValidationRecord[]): Promise<void> {
  const { type, value } = input.identifier;
  const { resolved, usable } = await guard.resolve(value);
  records.push({ hostname: value, port: cfg.tlsAlpnPort, addressesResolved: resolved, addressUsed: usable[0] });
  const { der, alpn } = await peerCertificate(usable[0], cfg.tlsAlpnPort, type === "ip" ? reverseName(value) : value, signal);
  if (alpn !== "acme-tls/1") throw new GatewayError("RA_ERR_VALIDATION_TLS", "the server did not negotiate the acme-tls/1 protocol");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(new Uint8Array(der));
  } catch {
    throw new GatewayError("RA_ERR_VALIDATION_TLS", "the challenge certificate could not be parsed");
  }
  const names = cert.getExtension(SubjectAlternativeNameExtension)?.names.items ?? [];
  const want = type === "ip" ? Buffer.from(ipToBytes(value)).toString("hex") : value.toLowerCase();
  const got = names.map((n) => (n.type === "ip" ? Buffer.from(ipToBytes(n.value)).toString("hex") : n.type === "dns" ? n.value.toLowerCase() : `${n.type}:${n.value}`));
  if (got.length !== 1 || got[0] !== want || names[0].type !== (type === "ip" ? "ip" : "dns")) {
    throw new GatewayError("RA_ERR_VALIDATION_TLS", `the challenge certificate must name exactly ${value} in subjectAltName`);
  }
  const ext = cert.extensions.find((e) => e.type === ACME_IDENTIFIER_OID);
  if (!ext) throw new GatewayError("RA_ERR_VALIDATION_TLS", "the challenge certificate has no acmeIdentifier extension");
  if (!ext.critical) throw new GatewayError("RA_ERR_VALIDATION_TLS", "the acmeIdentifier extension must be critical");
  const expected = Buffer.concat([Buffer.from([0x04, 0x20]), createHash("sha256").update(input.keyAuthorization).digest()]);
  if (!Buffer.from(ext.value).equals(expected)) throw new GatewayError("RA_ERR_VALIDATION_INCORRECT", "the acmeIdentifier extension does not match the key authorization");
}
