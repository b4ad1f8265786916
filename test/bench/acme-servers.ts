/** An ACME server under load: started as its own process by the bench, stopped at the end. */
export interface BenchServer {
  name: "gateway" | "pebble";
  directoryUrl: string;
  /** Trust anchor for its HTTPS listener. */
  caPem: string;
  /** The server process whose CPU is measured (from /proc, see cpu.ts). */
  pid: number;
  stop(): Promise<void>;
}

export interface BenchServerOptions {
  /** Where http-01 validation connects (the load generator's answer server). */
  http01Port: number;
  /** Validation off: every challenge counts as answered. */
  skipValidation: boolean;
}

export { startGateway } from "./gateway-server.js";
export { startPebble } from "./pebble.js";
