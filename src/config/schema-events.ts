import { z } from "zod";

/** `events:` event sinks (webhooks, syslog, the log stream) and which audit event types go where. */
export const eventsConfigSchema = z.object({ sinks: z.array(z.unknown()).default([]) }).strict();
export type EventsConfig = z.infer<typeof eventsConfigSchema>;
