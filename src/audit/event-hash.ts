import { hash } from "node:crypto";
import type { AuditEvent } from "../store/types.js";

/** The audit chain's one hash format, shared by the log, the stores that link events and the exporters. */

type Unlinked = Omit<AuditEvent, "seq" | "prevHash" | "hash">;

/** Deterministic JSON (sorted keys) so the hash does not depend on property order. */
export function canonicalJson(v: unknown): string {
  // The exact text every stored hash was made from: change nothing but speed (no intermediate arrays).
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) {
    let s = "[";
    for (let i = 0; i < v.length; i++) s += (i ? "," : "") + canonicalJson(v[i]);
    return `${s}]`;
  }
  const o = v as Record<string, unknown>;
  let s = "{";
  for (const k of Object.keys(o).sort()) {
    const x = o[k];
    if (x === undefined) continue;
    s += `${s.length > 1 ? "," : ""}${JSON.stringify(k)}:${canonicalJson(x)}`;
  }
  return `${s}}`;
}

export function eventHash(prevHash: string, seq: number, e: Unlinked): string {
  // SHA-256 over prevHash then the canonical JSON, hashed as one string (the same UTF-8 bytes as two updates).
  return hash("sha256", prevHash + canonicalJson({ seq, ts: e.ts, type: e.type, actor: e.actor, target: e.target ?? null, data: e.data }), "hex");
}


/**
 * eventHash split around the sequence number, for a store that assigns seq and links the event in SQL:
 * eventHash(prev, seq, e) === sha256(prev + head + String(seq) + tail). In the canonical text the keys run actor,
 * data, seq, target, ts, type: the last `"seq":` is the top-level key (data's nested keys come before it; target,
 * ts and type are strings, whose quotes are escaped).
 */
export function eventHashParts(e: Unlinked): { head: string; tail: string } {
  const text = canonicalJson({ seq: 0, ts: e.ts, type: e.type, actor: e.actor, target: e.target ?? null, data: e.data });
  const at = text.lastIndexOf('"seq":0') + '"seq":'.length;
  return { head: text.slice(0, at), tail: text.slice(at + 1) };
}
