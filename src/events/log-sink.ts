import type { Logger } from "pino";
import type { LogSinkConfig } from "../config/schema-events.js";
import { typeMatcher } from "./routing.js";
import type { EventPayload } from "./types.js";

/**
 * Writes matching events to the pino stream at once (no outbox: the log line is as durable as the log).
 * It runs inside the audit transaction, so a line may describe an event that was then rolled back.
 */
export class LogSink {
  readonly name: string;
  readonly matches: (type: string) => boolean;

  constructor(cfg: LogSinkConfig, private readonly log: Logger) {
    this.name = cfg.name;
    this.matches = typeMatcher(cfg.types);
  }

  write(event: EventPayload): void {
    try {
      this.log.info({ sink: this.name, event }, `event ${event.type}`);
    } catch {
      // Logging must never fail the audited operation.
    }
  }
}
