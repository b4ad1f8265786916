import type { GatewayConfig } from "../config/schema.js";

/** `gateway discover …` and `gateway report crypto …`. */
export async function reportCommand(config: GatewayConfig, cmd: string, rest: string[], argv: string[]): Promise<number> {
  void config;
  void rest;
  void argv;
  console.error(`${cmd}: not available`);
  return 2;
}
