import { Router } from "express";
import type { Gateway } from "../gateway.js";
import { readiness } from "./readiness.js";

/** Liveness, readiness (database and every CA signer reachable) and Prometheus metrics. */
export function opsRouter(gw: Gateway): Router {
  const r = Router();
  r.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  r.get("/readyz", async (_req, res) => {
    const { ok, checks } = await readiness(gw);
    res.status(ok ? 200 : 503).json({ status: ok ? "ready" : "not ready", checks });
  });
  r.get("/metrics", async (_req, res) => {
    res.type(gw.metrics.registry.contentType).send(await gw.metrics.registry.metrics());
  });
  return r;
}
