import { createHmac } from "node:crypto";
import type { WebhookSinkConfig } from "../config/schema-events.js";
import type { Delivery, DeliverySink } from "./types.js";

/** `sha256=<hex>` over `<timestamp>.<body>`: the timestamp is signed so a captured request cannot be replayed later. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** POSTs each event as JSON, signed with the sink's HMAC secret; 2xx means delivered. */
export class WebhookSink implements DeliverySink {
  readonly kind = "webhook";
  readonly name: string;
  readonly maxAttempts: number;
  readonly backoff: { initialMs: number; maxMs: number };
  readonly leaseMs: number;
  private readonly url: string;
  private readonly timeoutMs: number;

  /** `secret` is the resolved hmacSecret; it stays in this object and is never logged. */
  constructor(cfg: WebhookSinkConfig, private readonly secret: string) {
    this.name = cfg.name;
    this.url = cfg.url;
    this.timeoutMs = cfg.timeoutMs;
    this.maxAttempts = cfg.maxAttempts;
    this.backoff = cfg.backoff;
    this.leaseMs = Math.max(60_000, cfg.timeoutMs * 2);
  }

  async deliver(d: Delivery, signal: AbortSignal): Promise<void> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const res = await fetch(this.url, {
      method: "POST",
      body: d.body,
      // Redirects count as failures: a signed event must not follow a Location to somewhere else.
      redirect: "manual",
      signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      headers: {
        "Content-Type": "application/json",
        "User-Agent": "enrollment-gateway-events",
        "X-Gateway-Event": d.event.type,
        "X-Gateway-Delivery": String(d.id),
        "X-Gateway-Timestamp": timestamp,
        "X-Gateway-Signature": webhookSignature(this.secret, timestamp, d.body),
      },
    });
    const text = await readSome(res, 4096);
    if (res.status < 200 || res.status > 299) {
      const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
      throw new Error(`HTTP ${res.status}${snippet ? `: ${snippet}` : ""}`);
    }
  }

  async close(): Promise<void> {}
}

/** Reads at most `max` bytes of the answer (for last_error), then lets the rest go so the socket is freed. */
async function readSome(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.length;
    }
  } catch {
    // A broken answer body does not change the verdict, which the status code already gave.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, max).toString("utf8");
}
