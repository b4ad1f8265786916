import type { ServerResponse, Server } from "node:http";
import type { Logger } from "pino";

/** How long requests in flight at SIGTERM/SIGINT may take to finish before their connections are closed. */
export const SHUTDOWN_GRACE_MS = 10_000;

/** What a drain did: requests that finished their response while draining, and those cut off at the bound. */
export interface DrainResult {
  inFlightFinished: number;
  forced: number;
}

/** The requests a listener is answering; `drain` stops the listener and waits for them. */
export interface RequestTracker {
  drain(graceMs: number): Promise<DrainResult>;
}

/**
 * Counts a listener's requests from their `request` event to their response's `close`. Once draining, every
 * response closes its connection (`Connection: close`) and a connection left idle is closed at once, so keep-alive
 * clients cannot hold the process open.
 */
export function trackRequests(server: Server): RequestTracker {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let finished = 0;
  let settle: (() => void) | undefined;
  server.on("request", (_req, res: ServerResponse) => {
    inFlight.add(res);
    if (draining) res.shouldKeepAlive = false;
    res.once("close", () => {
      inFlight.delete(res);
      if (!draining) return;
      if (res.writableFinished) finished++;
      server.closeIdleConnections();
      if (!inFlight.size) settle?.();
    });
  });
  return {
    async drain(graceMs) {
      draining = true;
      const closed = new Promise<void>((r) => server.close(() => r())); // stops accepting; calls back once no connection is left
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      server.closeIdleConnections();
      let forced = 0;
      if (inFlight.size) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((r) => {
          settle = r;
          timer = setTimeout(r, graceMs);
        });
        clearTimeout(timer);
        forced = inFlight.size;
      }
      server.closeAllConnections(); // what is left: requests past the bound, and connections between requests
      await closed;
      return { inFlightFinished: finished, forced };
    },
  };
}

/** Drains several listeners at once, with one bound for all of them. */
export async function drainAll(trackers: RequestTracker[], graceMs: number): Promise<DrainResult> {
  const results = await Promise.all(trackers.map((t) => t.drain(graceMs)));
  return results.reduce((a, b) => ({ inFlightFinished: a.inFlightFinished + b.inFlightFinished, forced: a.forced + b.forced }), { inFlightFinished: 0, forced: 0 });
}

/**
 * SIGINT/SIGTERM (the first of them): `stop` drains the listeners and closes the store and signers; then one log
 * line and exit 0 (1 when stopping failed). A second signal while stopping exits at once with 1, as an operator
 * pressing Ctrl-C twice expects.
 */
export function exitOnSignals(stop: () => Promise<DrainResult | void>, log: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal while stopping: exiting now");
      process.exit(1);
    }
    stopping = true;
    const started = Date.now();
    stop().then((r) => {
      log.info({ signal, inFlightFinished: r?.inFlightFinished ?? 0, forced: r?.forced ?? 0, ms: Date.now() - started }, "gateway stopped");
      process.exit(0);
    }, (e: unknown) => {
      log.error({ signal, err: (e as Error).message, ms: Date.now() - started }, "shutdown failed");
      process.exit(1);
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
