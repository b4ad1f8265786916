import type { SyslogSinkConfig } from "../config/schema-events.js";
import { formatSyslog, type SyslogFields } from "./syslog-format.js";
import { TcpTransport, UdpTransport, type SyslogTransport } from "./syslog-transport.js";
import type { Delivery, DeliverySink } from "./types.js";

/** RFC 5424 lines carrying CEF records, to a syslog relay or SIEM collector over UDP or TCP. */
export class SyslogSink implements DeliverySink {
  readonly kind = "syslog";
  readonly name: string;
  readonly maxAttempts: number;
  readonly backoff: { initialMs: number; maxMs: number };
  readonly leaseMs: number;
  private readonly fields: SyslogFields;
  private readonly transport: SyslogTransport;

  constructor(cfg: SyslogSinkConfig) {
    this.name = cfg.name;
    this.maxAttempts = cfg.maxAttempts;
    this.backoff = cfg.backoff;
    this.leaseMs = Math.max(60_000, cfg.timeoutMs * 3);
    this.fields = { facility: cfg.facility, appName: cfg.appName, hostname: cfg.hostname };
    this.transport = cfg.transport === "udp" ? new UdpTransport(cfg.host, cfg.port) : new TcpTransport(cfg.host, cfg.port, cfg.timeoutMs);
  }

  deliver(d: Delivery, signal: AbortSignal): Promise<void> {
    return this.transport.send(formatSyslog(d.event, this.fields), signal);
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
