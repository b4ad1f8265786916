import { createServer, type Server } from "node:http";

/**
 * The load generator's own http-01 responder: one server for every client, answering each token
 * with its key authorization, and only for the name it was published for (so a server that sends
 * the wrong Host fails validation here instead of passing by luck).
 */
export class Http01Answers {
  private readonly answers = new Map<string, { keyAuth: string; host: string; seen: Promise<void>; markSeen: () => void }>();
  private constructor(private readonly server: Server) {}

  static async listen(port: number): Promise<Http01Answers> {
    const server = createServer();
    const self = new Http01Answers(server);
    server.on("request", (req, res) => {
      const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? "")?.[1];
      const a = token ? self.answers.get(token) : undefined;
      const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
      if (!a || a.host !== host) res.writeHead(404).end();
      else {
        res.writeHead(200, { "content-type": "text/plain" }).end(a.keyAuth);
        a.markSeen();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) =>
        reject(e.code === "EADDRINUSE" ? new Error(`http-01 port 127.0.0.1:${port} is in use; set BENCH_HTTP01_PORT to a free port`) : e));
      server.listen(port, "127.0.0.1", resolve);
    });
    return self;
  }

  set(token: string, keyAuth: string, host: string): void {
    let markSeen = () => {};
    const seen = new Promise<void>((r) => (markSeen = r));
    this.answers.set(token, { keyAuth, host: host.toLowerCase(), seen, markSeen });
  }

  /** Resolves once the token has been served (at once for an unknown token). */
  seen(token: string): Promise<void> {
    return this.answers.get(token)?.seen ?? Promise.resolve();
  }

  delete(token: string): void {
    this.answers.delete(token);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
