import fc from "fast-check";
import { GatewayError } from "../../src/errors.js";

/**
 * Fuzzing budget: a fixed seed so CI runs are reproducible; FUZZ_SEED varies it, FUZZ_RUNS multiplies the
 * run counts and time limits (FUZZ_RUNS=20 for a longer local session). fast-check prints the seed and
 * the shrunk counterexample of a failure; replay it with FUZZ_SEED.
 */
export const FUZZ_SEED = envInt("FUZZ_SEED", 20_240_607);
const SCALE = envNumber("FUZZ_RUNS", 1);

function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${JSON.stringify(v)}`);
  return n;
}

function envInt(name: string, fallback: number): number {
  const n = envNumber(name, fallback);
  return Math.trunc(n) | 0;
}

/** Runs and time budget of one property. An interrupted property passes with the runs it made (the budget is a bound). */
export function budget(numRuns: number, timeLimitMs: number): fc.Parameters<unknown> {
  return {
    seed: FUZZ_SEED,
    numRuns: Math.max(1, Math.round(numRuns * SCALE)),
    interruptAfterTimeLimit: Math.round(timeLimitMs * Math.max(1, SCALE)),
    markInterruptAsFailure: false,
  };
}

/** An error class a parser may throw on bad input (besides GatewayError). */
export type Expected = abstract new (...args: never[]) => Error;

/**
 * Runs `fn` on one input: a value or a GatewayError (or one of `alsoExpected`, the typed errors of
 * internal readers) is fine; anything else escaped the parser and fails with the input attached.
 */
export function typedOrValue<T>(fn: () => T, ...alsoExpected: Expected[]): T | Error {
  try {
    return fn();
  } catch (e) {
    if (e instanceof GatewayError || alsoExpected.some((c) => e instanceof c)) return e as Error;
    throw escaped(e);
  }
}

export async function typedOrValueAsync<T>(fn: () => Promise<T>, ...alsoExpected: Expected[]): Promise<T | Error> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof GatewayError || alsoExpected.some((c) => e instanceof c)) return e as Error;
    throw escaped(e);
  }
}

function escaped(e: unknown): Error {
  const err = new Error(`an untyped exception escaped the parser: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  if (e instanceof Error) err.stack = `${err.message}\n${e.stack}`;
  return err;
}

