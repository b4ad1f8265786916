import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, isIPv6, type Socket } from "node:net";

export interface SyslogTransport {
  send(message: string, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** Largest datagram we send (RFC 5426 asks receivers for 480/2048 octets at least; common relays take 8 KiB). */
export const UDP_MAX_BYTES = 8192;

/** Cuts `buf` to at most `max` bytes without splitting a UTF-8 character. */
export function truncateUtf8(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  let end = max;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--; // buf[end] is a continuation byte: its character would be cut
  return buf.subarray(0, end);
}

/** RFC 5426: one message per datagram, no framing. Fire and forget: UDP has no acknowledgement. */
export class UdpTransport implements SyslogTransport {
  private sock?: UdpSocket;
  constructor(private readonly host: string, private readonly port: number) {}

  private socket(): UdpSocket {
    if (!this.sock) {
      const s = createSocket(isIPv6(this.host) ? "udp6" : "udp4");
      s.on("error", () => {
        // The next send makes a new socket; the failed send already rejected.
        if (this.sock === s) this.sock = undefined;
        s.close();
      });
      s.unref(); // a short-lived CLI process must be able to exit
      this.sock = s;
    }
    return this.sock;
  }

  send(message: string): Promise<void> {
    const buf = truncateUtf8(Buffer.from(message, "utf8"), UDP_MAX_BYTES);
    const s = this.socket();
    return new Promise((resolve, reject) => s.send(buf, this.port, this.host, (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

/**
 * RFC 6587 octet counting (`<length> <message>`) over one persistent connection, made again after an
 * error. A write counts as delivered once the kernel took it: syslog has no application acknowledgement.
 */
export class TcpTransport implements SyslogTransport {
  private sock?: Socket;
  private connecting?: Promise<Socket>;
  constructor(private readonly host: string, private readonly port: number, private readonly timeoutMs: number) {}

  private connection(signal: AbortSignal): Promise<Socket> {
    if (this.sock && !this.sock.destroyed && this.sock.writable) return Promise.resolve(this.sock);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: this.host, port: this.port });
      const fail = (e: Error) => {
        cleanup();
        s.destroy();
        reject(e);
      };
      const onAbort = () => fail(new Error("aborted"));
      const timer = setTimeout(() => fail(new Error(`connect timeout after ${this.timeoutMs} ms`)), this.timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        s.removeListener("error", fail);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      s.once("error", fail);
      s.once("connect", () => {
        cleanup();
        s.setNoDelay(true);
        s.setKeepAlive(true, 30_000);
        s.unref();
        // Errors after connecting surface in the pending write's callback; this keeps them from being unhandled.
        s.on("error", () => undefined);
        s.on("close", () => {
          if (this.sock === s) this.sock = undefined;
        });
        s.on("data", () => undefined); // receivers do not answer; anything they send is ignored
        this.sock = s;
        resolve(s);
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  async send(message: string, signal: AbortSignal): Promise<void> {
    const s = await this.connection(signal);
    const body = Buffer.from(message, "utf8");
    const frame = Buffer.concat([Buffer.from(`${body.length} `, "ascii"), body]);
    await new Promise<void>((resolve, reject) => {
      // A stalled connection is torn down; the row is retried on a fresh one.
      const kill = (why: string) => s.destroy(new Error(why));
      const timer = setTimeout(() => kill(`write timeout after ${this.timeoutMs} ms`), this.timeoutMs);
      const onAbort = () => kill("aborted");
      const onClose = () => done(new Error("connection closed before the frame was written"));
      const done = (err?: Error | null) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        s.removeListener("close", onClose);
        if (err) {
          s.destroy();
          reject(err);
        } else resolve();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      s.once("close", onClose);
      s.write(frame, done);
    });
  }

  async close(): Promise<void> {
    const s = this.sock;
    this.sock = undefined;
    if (!s || s.destroyed) return;
    await new Promise<void>((r) => {
      const t = setTimeout(() => {
        s.destroy();
        r();
      }, 500);
      t.unref();
      s.end(() => {
        clearTimeout(t);
        r();
      });
    });
  }
}
