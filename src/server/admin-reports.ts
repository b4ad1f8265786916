import type { Router } from "express";
import type { Gateway } from "../gateway.js";

/** Admin API: discovered (unmanaged) certificates and the crypto inventory report. */
export function mountReportRoutes(r: Router, gw: Gateway): void {
  void r;
  void gw;
}
