import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AuthorizationRequestBody } from "../../src/policy/authorization-hook.js";

/** One call as the receiver saw it, with its own verdict on the signature. */
export interface ReceivedCall {
  path: string;
  body: AuthorizationRequestBody;
  timestamp?: string;
  signature?: string;
  signatureValid: boolean;
}

/** What the receiver answers: a status and JSON (or raw text), or nothing at all ("hang"). */
export type ReceiverReply = { status?: number; json?: unknown; text?: string } | "hang";

/**
 * An authorization webhook as an operator would write one (node:http on 127.0.0.1, port 0): it
 * checks `X-Gateway-Signature` = sha256=HMAC(secret, timestamp + "." + body) and the timestamp's
 * freshness, answers 401 to anything unsigned or badly signed, and otherwise what `reply` says.
 */
export class WebhookReceiver {
  readonly calls: ReceivedCall[] = [];
  reply: (call: ReceivedCall) => ReceiverReply = () => ({ json: { decision: "allow" } });
  private readonly hanging = new Set<ServerResponse>();

  private constructor(private readonly server: Server, readonly base: string, private readonly secret: string) {}

  static async start(secret: string): Promise<WebhookReceiver> {
    let self: WebhookReceiver | undefined;
    const server = createServer((req, res) => void self!.handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    self = new WebhookReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, secret);
    return self;
  }

  url(path = "/authorize"): string {
    return `${this.base}${path}`;
  }

  /** The calls made for one profile (each test uses its own names, so this singles its calls out). */
  callsFor(profile: string): ReceivedCall[] {
    return this.calls.filter((c) => c.body.profile === profile);
  }

  /** How a receiver verifies the gateway: recompute the HMAC over timestamp "." raw body, compare in constant time. */
  verify(raw: string, timestamp: string | undefined, signature: string | undefined): boolean {
    if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false; // replay window
    const expected = Buffer.from(`sha256=${createHmac("sha256", this.secret).update(`${timestamp}.${raw}`).digest("hex")}`);
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const raw = Buffer.concat(parts).toString("utf8");
    const timestamp = header(req, "x-gateway-timestamp");
    const signature = header(req, "x-gateway-signature");
    const call: ReceivedCall = { path: req.url ?? "", body: JSON.parse(raw) as AuthorizationRequestBody, timestamp, signature, signatureValid: this.verify(raw, timestamp, signature) };
    this.calls.push(call);
    if (!call.signatureValid) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "bad signature" }));
      return;
    }
    const r = this.reply(call);
    if (r === "hang") {
      this.hanging.add(res); // never answered; closed by close()
      return;
    }
    res.writeHead(r.status ?? 200, { "content-type": "application/json" }).end(r.text ?? JSON.stringify(r.json));
  }

  close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
