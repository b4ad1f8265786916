import { BoundedMap } from "../../src/bounded-map.js";

/**
 * CMP transactions in flight (RFC 9483 §4.1): what a follow-up message (certConf, pollReq) must match,
 * and which transactionIDs were already used. Kept in memory: a restart ends open transactions, and
 * certificates still waiting for certConf then stay issued without being revoked (nothing sweeps them yet).
 */
export type Protection = { kind: "mac"; kid: string; secret: Uint8Array } | { kind: "signature"; signerCert: Uint8Array };

export interface OpenTransaction {
  id: string;
  label: string;
  /** Our last senderNonce: the client's next recipNonce must equal it. */
  lastNonce: Uint8Array;
  protection: Protection;
  state: "waitingConfirm" | "pending";
  certReqId: bigint;
  bodyType: "ip" | "cp" | "kup";
  /** waitingConfirm: the certificate issued and its serial. */
  certDer?: Uint8Array;
  serial?: string;
  /** pending: the enrollment request awaiting approval. */
  requestId?: string;
  expiresAt: number;
}

/** Caps on what the table holds; beyond them the least recently used entry goes (see TransactionTable). */
export interface TransactionLimits {
  maxOpen: number;
  maxRemembered: number;
}

export const TRANSACTION_LIMITS: TransactionLimits = { maxOpen: 50_000, maxRemembered: 100_000 };

/**
 * Both maps are bounded, so a flood of new transactions cannot grow memory: an open transaction pushed out
 * is settled like one whose time ran out (returned by `expired`, so an unconfirmed certificate is revoked),
 * and a transactionID pushed out of the memory window may be used again (messageTime and protection still apply).
 */
export class TransactionTable {
  private readonly open: BoundedMap<string, OpenTransaction>;
  /** transactionIDs seen recently (open or finished), so a replayed ID is refused (transactionIdInUse). */
  private readonly seen: BoundedMap<string, number>;
  /** Open transactions pushed out by the cap, to be settled by the next `expired` call. */
  private evicted: OpenTransaction[] = [];

  constructor(private readonly rememberMs: number, limits: TransactionLimits = TRANSACTION_LIMITS) {
    this.open = new BoundedMap(limits.maxOpen, (_id, t) => this.evicted.push(t));
    this.seen = new BoundedMap(limits.maxRemembered);
  }

  /** Claims a new transactionID; false when it was used before within the memory window. */
  claim(id: string, now = Date.now()): boolean {
    this.prune(now);
    if (this.seen.has(id)) return false;
    this.seen.set(id, now + this.rememberMs);
    return true;
  }

  get(id: string): OpenTransaction | undefined {
    return this.open.get(id);
  }

  put(t: OpenTransaction): void {
    this.open.set(t.id, t);
    this.seen.set(t.id, Math.max(this.seen.get(t.id) ?? 0, t.expiresAt + this.rememberMs));
  }

  close(id: string): void {
    this.open.delete(id);
  }

  /** Transactions whose time ran out or that the cap pushed out, removed from the table for the caller to settle (revoke unconfirmed). */
  expired(now = Date.now()): OpenTransaction[] {
    const out = this.evicted;
    this.evicted = [];
    for (const t of this.open.values()) if (t.expiresAt <= now) out.push(t);
    for (const t of out) this.open.delete(t.id);
    return out;
  }

  /** Forgets expired IDs from the oldest on, stopping at the first live one: no walk over the whole map per claim. */
  private prune(now: number): void {
    for (const [id, until] of this.seen) {
      if (until > now) return;
      if (!this.open.has(id)) this.seen.delete(id);
    }
  }
}
