import type { Logger } from "pino";
import type { AuditLog } from "../audit/audit-log.js";
import { readSecret } from "../config/load.js";
import type { GatewayConfig } from "../config/schema.js";
import type { OutboxStatus } from "../store/outbox-types.js";
import type { AuditEvent, Store } from "../store/types.js";
import { Dispatcher } from "./dispatcher.js";
import { LogSink } from "./log-sink.js";
import { typeMatcher } from "./routing.js";
import { SyslogSink } from "./syslog.js";
import { eventPayload, type DeliverySink } from "./types.js";
import { WebhookSink } from "./webhook.js";

export { webhookSignature } from "./webhook.js";
export type { EventPayload } from "./types.js";

export interface EventSinkStats {
  name: string;
  type: "webhook" | "syslog" | "log";
  /** Outbox rows by status (all zero for the log sink, which has no outbox). */
  outbox: Record<OutboxStatus, number>;
}

export interface EventSinks {
  /** Delivers every outbox row that is due now and waits for it (rows in back-off stay); for tests and tools. */
  flush(): Promise<void>;
  /** Per configured sink, its outbox rows by status. */
  stats(): Promise<EventSinkStats[]>;
  /** Names of the sinks that deliver from the outbox (webhook, syslog): the ones a redelivery may target. */
  outboxSinks(): string[];
  /** Wakes the dispatcher now instead of at its next poll (e.g. after a redelivery). */
  wake(): void;
  /** Stops delivery timers and open connections; undelivered events stay in the outbox. */
  close(): Promise<void>;
}

export interface EventSinkDeps {
  config: GatewayConfig;
  store: Store;
  audit: AuditLog;
  log: Logger;
}

/**
 * Routes audit events to the configured sinks. Webhook and syslog sinks go through the outbox: the row is
 * written by the audit listener inside the event's transaction, so an event and its deliveries commit or
 * roll back together; the dispatcher sends them later, also rows written by other processes (the CLI).
 */
export function startEventSinks(deps: EventSinkDeps): EventSinks {
  const { config, store, audit, log } = deps;
  const cfg = config.events;
  const outboxSinks: Array<{ sink: DeliverySink; matches: (type: string) => boolean }> = [];
  const logSinks: LogSink[] = [];
  for (const s of cfg.sinks) {
    if (s.type === "log") logSinks.push(new LogSink(s, log));
    else if (s.type === "webhook") outboxSinks.push({ sink: new WebhookSink(s, readSecret(s.hmacSecret, `events.sinks.${s.name}.hmacSecret`)), matches: typeMatcher(s.types) });
    else outboxSinks.push({ sink: new SyslogSink(s), matches: typeMatcher(s.types) });
  }
  const dispatcher = new Dispatcher(store.outbox, outboxSinks.map((o) => o.sink), cfg.pollIntervalMs, log);

  if (cfg.sinks.length) {
    audit.subscribe(async (e: AuditEvent, tx: Store) => {
      const payload = eventPayload(e);
      let body: string | undefined;
      for (const o of outboxSinks) {
        if (!o.matches(e.type)) continue;
        body ??= JSON.stringify(payload);
        // Deliberately not caught: if the row cannot be written, the audited operation fails rather than lose the event.
        await tx.outbox.enqueue(o.sink.name, e.seq, body, e.ts);
      }
      for (const l of logSinks) if (l.matches(e.type)) l.write(payload);
      if (body !== undefined) dispatcher.wake();
    });
  }
  dispatcher.start();

  return {
    flush: () => dispatcher.flush(),
    async stats() {
      const counts = await store.outbox.counts();
      return cfg.sinks.map((s) => {
        const outbox: Record<OutboxStatus, number> = { pending: 0, sending: 0, delivered: 0, dead: 0 };
        for (const c of counts) if (c.sink === s.name) outbox[c.status] = c.count;
        return { name: s.name, type: s.type, outbox };
      });
    },
    outboxSinks: () => outboxSinks.map((o) => o.sink.name),
    wake: () => dispatcher.wake(),
    async close() {
      await dispatcher.close();
      await Promise.all(outboxSinks.map((o) => o.sink.close().catch(() => undefined)));
    },
  };
}
