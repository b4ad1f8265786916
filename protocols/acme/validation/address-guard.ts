import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { canonicalIp, ipInCidr } from "../../../src/asn1/ip.js";
import { GatewayError } from "../../../src/errors.js";
import type { AcmeValidationConfig } from "../config.js";

/**
 * Resolves a validation target once and keeps only addresses the operator allows, so the
 * connection goes to exactly those addresses (no second lookup, no DNS rebinding).
 */
export class AddressGuard {
  readonly resolver: Resolver;
  constructor(private readonly cfg: AcmeValidationConfig) {
    this.resolver = new Resolver({ timeout: Math.min(cfg.timeoutMs, 5000), tries: 2 });
    if (cfg.dnsResolver) this.resolver.setServers([cfg.dnsResolver]);
  }

  allowed(ip: string): boolean {
    if (this.cfg.allow.length && !this.cfg.allow.some((c) => safeInCidr(ip, c))) return false;
    return !this.cfg.deny.some((c) => safeInCidr(ip, c));
  }

  private override(host: string): string | undefined {
    const o = this.cfg.hostOverrides;
    if (o[host]) return o[host];
    const labels = host.split(".");
    for (let i = 1; i < labels.length; i++) {
      const v = o[`*.${labels.slice(i).join(".")}`];
      if (v) return v;
    }
    return undefined;
  }

  /** Allowed addresses for `host` (IPv4 first), or a connection/dns error saying why there are none. */
  async resolve(host: string): Promise<{ resolved: string[]; usable: string[] }> {
    let resolved: string[];
    const literal = isIP(host) ? host : this.override(host);
    if (literal) resolved = [canonicalIp(literal)];
    else {
      const [a, aaaa] = await Promise.all([this.resolver.resolve4(host).catch(() => []), this.resolver.resolve6(host).catch(() => [])]);
      resolved = [...a, ...aaaa];
      if (!resolved.length) throw new GatewayError("RA_ERR_VALIDATION_DNS", `no A or AAAA record for ${host}`);
    }
    const usable = resolved.filter((ip) => this.allowed(ip));
    if (!usable.length) throw new GatewayError("RA_ERR_VALIDATION_CONNECTION", `${host} resolves only to addresses validation may not contact`);
    return { resolved, usable };
  }
}

function safeInCidr(ip: string, cidr: string): boolean {
  try {
    return ipInCidr(ip, cidr);
  } catch {
    return false;
  }
}
