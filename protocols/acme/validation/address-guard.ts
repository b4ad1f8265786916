import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { bytesToIp, ipInCidr, ipToBytes } from "../../../src/asn1/ip.js";
import { GatewayError } from "../../../src/errors.js";
import type { AcmeValidationConfig } from "../config.js";

type GuardConfig = Pick<AcmeValidationConfig, "allow" | "deny" | "hostOverrides" | "dnsResolver" | "timeoutMs">;

/** What a name resolved to, and the subset a validation may connect to. */
export interface GuardedTarget {
  resolved: string[];
  allowed: string[];
}

/** Never unicast hosts, whatever the operator allows: connecting to them reaches this machine or nobody. */
const NEVER = ["0.0.0.0/8", "240.0.0.0/4", "224.0.0.0/4", "::/128", "ff00::/8"];

/** Canonical text of an address; IPv4-mapped IPv6 becomes plain IPv4 so IPv4 deny rules cannot be dodged. */
export function normalizeIp(ip: string): string {
  if (ip.includes("%") || !isIP(ip)) throw new Error(`not an IP address: ${ip}`);
  const b = ipToBytes(ip);
  const mapped = b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return bytesToIp(mapped ? b.subarray(12) : b);
}

function checkCidr(cidr: string): string {
  const [base, len, extra] = cidr.split("/");
  const max = isIP(base) === 4 ? 32 : 128;
  const ok = extra === undefined && !base.includes("%") && isIP(base) !== 0 && (len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= max));
  if (!ok) throw new GatewayError("RA_ERR_CONFIG", `acme.validation: "${cidr}" is not an IP address or CIDR`);
  return cidr;
}

/** Budget for one DNS try: a slow resolver must leave time for the connection itself. */
function resolverOptions(cfg: GuardConfig): { timeout: number; tries: number } {
  return { timeout: Math.max(50, Math.min(5000, Math.floor(cfg.timeoutMs / 2))), tries: 2 };
}

/**
 * Resolves a validation target once and keeps only the addresses the operator allows; the
 * caller then connects to exactly those (no second lookup, so no DNS rebinding). The whole
 * configuration is checked when the guard is built, so a typo in a CIDR fails at start-up
 * instead of silently opening the deny list.
 */
export class AddressGuard {
  private readonly allow: string[];
  private readonly deny: string[];
  private readonly overrides = new Map<string, string>();

  constructor(private readonly cfg: GuardConfig) {
    this.allow = cfg.allow.map(checkCidr);
    this.deny = [...NEVER, ...cfg.deny.map(checkCidr)];
    for (const [name, ip] of Object.entries(cfg.hostOverrides)) {
      try {
        this.overrides.set(name.toLowerCase().replace(/\.$/, ""), normalizeIp(ip));
      } catch {
        throw new GatewayError("RA_ERR_CONFIG", `acme.validation.hostOverrides["${name}"] must be an IP address`);
      }
    }
    this.newResolver(); // setServers throws here on a malformed dnsResolver
  }

  /** A fresh resolver for one validation, so cancel() at its end stops only that validation's queries. */
  newResolver(): Resolver {
    const r = new Resolver(resolverOptions(this.cfg));
    if (this.cfg.dnsResolver) {
      try {
        r.setServers([this.cfg.dnsResolver]);
      } catch {
        throw new GatewayError("RA_ERR_CONFIG", `acme.validation.dnsResolver "${this.cfg.dnsResolver}" must be "ip" or "ip:port"`);
      }
    }
    return r;
  }

  /** Allow list first (empty = anything), then the deny list. `ip` must already be normalized. */
  isAllowed(ip: string): boolean {
    if (this.allow.length > 0 && !this.allow.some((c) => ipInCidr(ip, c))) return false;
    return !this.deny.some((c) => ipInCidr(ip, c));
  }

  /** Exact key first, then the most specific "*.suffix" key. */
  override(host: string): string | undefined {
    const name = host.toLowerCase().replace(/\.$/, "");
    const exact = this.overrides.get(name);
    if (exact) return exact;
    const labels = name.split(".");
    for (let i = 1; i < labels.length; i++) {
      const hit = this.overrides.get(`*.${labels.slice(i).join(".")}`);
      if (hit) return hit;
    }
    return undefined;
  }

  /**
   * Addresses for `host` (an IP literal, an overridden name, or A/AAAA through `resolver`),
   * IPv4 first. Throws RA_ERR_VALIDATION_DNS when the name has none and
   * RA_ERR_VALIDATION_CONNECTION when none may be contacted.
   */
  async resolve(host: string, resolver: Resolver | (() => Resolver)): Promise<GuardedTarget> {
    const pinned = this.override(host) ?? (isIP(host) ? host : undefined);
    const resolved = pinned ? [normalizeIp(pinned)] : await this.lookup(host, typeof resolver === "function" ? resolver() : resolver);
    const allowed = resolved.filter((ip) => this.isAllowed(ip));
    if (allowed.length === 0) {
      throw new GatewayError("RA_ERR_VALIDATION_CONNECTION", `${host} resolves only to addresses validation may not contact`, { resolved });
    }
    return { resolved, allowed };
  }

  private async lookup(host: string, resolver: Resolver): Promise<string[]> {
    const codes: string[] = [];
    const query = (p: Promise<string[]>) => p.catch((e: NodeJS.ErrnoException) => (codes.push(String(e.code ?? "EFAIL")), [] as string[]));
    const [a, aaaa] = await Promise.all([query(resolver.resolve4(host)), query(resolver.resolve6(host))]);
    const found = [...new Set([...a, ...aaaa].filter((ip) => isIP(ip)).map(normalizeIp))];
    if (found.length > 0) return found;
    const hard = codes.find((c) => c !== "ENODATA" && c !== "ENOTFOUND");
    if (hard) throw new GatewayError("RA_ERR_VALIDATION_DNS", `DNS lookup of ${host} failed (${hard})`);
    if (codes.length === 2 && codes.every((c) => c === "ENOTFOUND")) throw new GatewayError("RA_ERR_VALIDATION_DNS", `${host} does not exist (NXDOMAIN)`);
    throw new GatewayError("RA_ERR_VALIDATION_DNS", `no A or AAAA record for ${host}`);
  }
}

/** At most one address per family, IPv4 first: what a validation tries before giving up. */
export function connectCandidates(allowed: string[]): string[] {
  const v4 = allowed.find((ip) => isIP(ip) === 4);
  const v6 = allowed.find((ip) => isIP(ip) === 6);
  return [v4, v6].filter((ip): ip is string => ip !== undefined);
}
