/**
 * CMP transactions in flight (RFC 9483 §4.1): what a follow-up message (certConf, pollReq) must match,
 * and which transactionIDs were already used. Kept in memory: a restart ends open transactions, and
 * certificates still waiting for certConf are then swept by the inventory's unconfirmed check.
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

export class TransactionTable {
  private readonly open = new Map<string, OpenTransaction>();
  /** transactionIDs seen recently (open or finished), so a replayed ID is refused (transactionIdInUse). */
  private readonly seen = new Map<string, number>();

  constructor(private readonly rememberMs: number) {}

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

  /** Transactions whose time ran out, removed from the table for the caller to settle (revoke unconfirmed). */
  expired(now = Date.now()): OpenTransaction[] {
    const out: OpenTransaction[] = [];
    for (const t of this.open.values()) if (t.expiresAt <= now) out.push(t);
    for (const t of out) this.open.delete(t.id);
    return out;
  }

  private prune(now: number): void {
    if (this.seen.size < 10_000) return;
    for (const [id, until] of this.seen) if (until <= now && !this.open.has(id)) this.seen.delete(id);
  }
}
