import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

/**
 * A small round-robin TCP load balancer, as operators put in front of several instances: each new connection
 * goes to the next backend; a backend that refuses the connection is skipped (what a load balancer's health
 * check does), so once an instance dies its share moves to the others. TLS passes through untouched.
 */
export class RoundRobinProxy {
  private readonly server: Server;
  private next = 0;
  private readonly open = new Set<Socket>();
  /** Connections handed to each backend (by index). */
  readonly picks: number[];

  constructor(private readonly backends: Array<{ host: string; port: number }>) {
    this.picks = backends.map(() => 0);
    this.server = createServer((client) => this.route(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return (this.server.address() as AddressInfo).port;
  }

  private route(client: Socket, tried = 0): void {
    if (tried >= this.backends.length) {
      client.destroy();
      return;
    }
    const i = this.next++ % this.backends.length;
    const b = this.backends[i];
    const upstream = connect(b.port, b.host);
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      this.picks[i]++;
      this.open.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
    });
    upstream.on("error", () => {
      if (!connected) return this.route(client, tried + 1); // refused: try the next backend
      client.destroy();
    });
    client.on("error", () => upstream.destroy());
    upstream.on("close", () => { this.open.delete(upstream); client.destroy(); });
    client.on("close", () => { this.open.delete(client); upstream.destroy(); });
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
