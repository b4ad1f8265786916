import type { Resolver } from "node:dns/promises";
import type { AcmeValidationConfig } from "../config.js";
import type { AddressGuard } from "./address-guard.js";
import type { ValidationRecord } from "./types.js";

/** What one validation run shares with the per-type checks. */
export interface ValidationContext {
  cfg: AcmeValidationConfig;
  guard: AddressGuard;
  /** This run's own resolver, made on first use (a pinned or literal address needs none); cancelled when the run ends or times out. */
  resolver: () => Resolver;
  /** Aborted when the run ends or times out; every socket listens to it. */
  signal: AbortSignal;
  /** Filled as targets are contacted, so a failure still shows what was tried. */
  records: ValidationRecord[];
}
