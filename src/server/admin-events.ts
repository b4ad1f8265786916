import type { Request, Router } from "express";
import { GatewayError } from "../errors.js";
import type { Gateway } from "../gateway.js";
import { OUTBOX_STATUSES, type OutboxRecord, type OutboxStatus } from "../store/outbox-types.js";
import { actor, pageParams } from "./admin-helpers.js";

function outboxJson(r: OutboxRecord): Record<string, unknown> {
  let event: unknown;
  try {
    event = JSON.parse(r.payload);
  } catch {
    event = r.payload;
  }
  return {
    id: r.id, sink: r.sink, auditSeq: r.auditSeq, status: r.status, attempts: r.attempts, nextAttemptAt: r.nextAttemptAt,
    lastError: r.lastError ?? null, createdAt: r.createdAt, deliveredAt: r.deliveredAt ?? null, event,
  };
}

function queryString(req: Request, key: string): string | undefined {
  const v = req.query[key];
  return typeof v === "string" && v.length > 0 ? v : undefined;
}

/** Admin API: the event outbox (what each sink delivered, still owes, or gave up on) and redelivery of dead letters. */
export function mountEventRoutes(r: Router, gw: Gateway): void {
  r.get("/events/outbox", async (req, res) => {
    const status = queryString(req, "status");
    if (status !== undefined && !OUTBOX_STATUSES.includes(status as OutboxStatus)) {
      throw new GatewayError("RA_ERR_MALFORMED", `status must be one of ${OUTBOX_STATUSES.join(", ")}`);
    }
    // `after=<id>` and `cursor=<next>` are the same position: the id of the last row seen.
    const page = pageParams(req, req.query.cursor === undefined ? "after" : "cursor");
    const afterText = page.cursor ?? "0";
    if (!/^\d{1,15}$/.test(afterText)) throw new GatewayError("RA_ERR_MALFORMED", "after must be an outbox id");
    // One row more than asked tells whether another page follows.
    const rows = await gw.store.outbox.list({ status: status as OutboxStatus | undefined, sink: queryString(req, "sink"), limit: page.limit + 1, afterId: Number(afterText) });
    const more = rows.length > page.limit;
    if (more) rows.pop();
    res.json({ events: rows.map(outboxJson), next: more ? String(rows.at(-1)!.id) : undefined, sinks: await gw.events.stats() });
  });

  r.post("/events/outbox/redeliver", async (req, res) => {
    const body: unknown = req.body ?? {};
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new GatewayError("RA_ERR_MALFORMED", "body must be a JSON object");
    const sink = (body as { sink?: unknown }).sink;
    if (sink !== undefined && (typeof sink !== "string" || !sink)) throw new GatewayError("RA_ERR_MALFORMED", "sink must be a sink name");
    const known = gw.events.outboxSinks();
    // Rows of a sink no longer configured would only sit in pending: refuse rather than pretend.
    if (sink !== undefined && !known.includes(sink)) throw new GatewayError("RA_ERR_NOT_FOUND", `no webhook or syslog sink named ${sink}`);
    const sinks = sink !== undefined ? [sink] : known;
    const redelivered = await gw.store.transaction(async (tx) => {
      const n = await tx.outbox.redeliverDead(sinks, new Date().toISOString());
      await gw.audit.record({ type: "events.redelivered", actor: actor(req), target: sink ?? "*", data: { sinks, count: n } }, tx);
      return n;
    });
    gw.events.wake();
    res.json({ redelivered, sinks });
  });
}
