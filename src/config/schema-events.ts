import { z } from "zod";
import { secretSchema } from "./schema-secret.js";

/** Sink names appear in the outbox, the admin API and log lines: keep them plain. */
const sinkName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 letters, digits, '.', '_' or '-'");

/** Audit event type patterns: `*` matches any run of characters, e.g. "certificate.*", "*denied*", "*". */
const typePatterns = z
  .array(z.string().regex(/^[A-Za-z0-9._*-]{1,128}$/, "must be an event type or a pattern with '*'"))
  .min(1)
  .default(["*"]);

const backoff = z
  .object({
    initialMs: z.number().int().positive().default(1000),
    maxMs: z.number().int().positive().default(300_000),
  })
  .strict()
  .refine((b) => b.initialMs <= b.maxMs, { message: "initialMs must not exceed maxMs" })
  .default({ initialMs: 1000, maxMs: 300_000 });

const maxAttempts = z.number().int().min(1).max(1000).default(10);

const webhookSink = z
  .object({
    type: z.literal("webhook"),
    name: sinkName,
    // No user:password@ in the URL: fetch refuses it, and it would end up in logs. Authenticate with the signature.
    url: z.url({ protocol: /^https?$/ }).refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), { message: "must not contain credentials" }),
    /** Key of the HMAC-SHA256 in X-Gateway-Signature; read once at start, never logged. */
    hmacSecret: secretSchema,
    types: typePatterns,
    timeoutMs: z.number().int().positive().max(120_000).default(5000),
    maxAttempts,
    backoff,
  })
  .strict();

const syslogSink = z
  .object({
    type: z.literal("syslog"),
    name: sinkName,
    transport: z.enum(["udp", "tcp"]),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(514),
    /** RFC 5424 facility; 10 = security/authorization (authpriv), where SIEM forwarders usually look. 13 = log audit. */
    facility: z.number().int().min(0).max(23).default(10),
    appName: z.string().regex(/^[!-~]{1,48}$/, "must be 1-48 printable ASCII characters without spaces").default("enrollment-gateway"),
    /** HOSTNAME field; the machine's host name when absent. */
    hostname: z.string().regex(/^[!-~]{1,255}$/, "must be 1-255 printable ASCII characters without spaces").optional(),
    types: typePatterns,
    /** TCP connect and write timeout. */
    timeoutMs: z.number().int().positive().max(120_000).default(5000),
    maxAttempts,
    backoff,
  })
  .strict();

const logSink = z
  .object({
    type: z.literal("log"),
    name: sinkName,
    types: typePatterns,
  })
  .strict();

export const eventSinkSchema = z.discriminatedUnion("type", [webhookSink, syslogSink, logSink]);

/** `events:` event sinks (webhooks, syslog, the log stream) and which audit event types go where. */
export const eventsConfigSchema = z
  .object({
    /** How often the dispatcher looks for due outbox rows (new events also wake it at once). */
    pollIntervalMs: z.number().int().min(10).max(60_000).default(1000),
    sinks: z.array(eventSinkSchema).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.sinks.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: "custom", path: ["sinks", i, "name"], message: `duplicate sink name ${s.name}` });
      seen.add(s.name);
    });
  });

export type EventsConfig = z.infer<typeof eventsConfigSchema>;
export type EventSinkConfig = z.infer<typeof eventSinkSchema>;
export type WebhookSinkConfig = z.infer<typeof webhookSink>;
export type SyslogSinkConfig = z.infer<typeof syslogSink>;
export type LogSinkConfig = z.infer<typeof logSink>;
