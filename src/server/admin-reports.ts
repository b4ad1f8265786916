import type { Request, Router } from "express";
import { GatewayError } from "../errors.js";
import type { Gateway } from "../gateway.js";
import { cryptoReportCsv } from "../inventory/crypto-csv.js";
import { buildCryptoReport } from "../inventory/crypto-report.js";
import { DEFAULT_TIMEOUT_MS, discover } from "../inventory/discover.js";
import { certificateFacts } from "../inventory/facts.js";
import { parseTarget } from "../inventory/tls-fetch.js";
import { assess } from "../inventory/weakness.js";
import type { DiscoveredCertificate } from "../store/discovery-types.js";

/** Most endpoints one API call may scan; larger sweeps belong to `gateway discover`. */
export const MAX_API_TARGETS = 100;
const MAX_API_TIMEOUT_MS = 30_000;

function intParam(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new GatewayError("RA_ERR_MALFORMED", `${name} must be an integer from ${min} to ${max}`);
  return n;
}

const actorOf = (req: Request) => `admin:${req.admin?.name ?? "unknown"}`;

/** Admin API: discovered (unmanaged) certificates and the crypto inventory report. */
export function mountReportRoutes(r: Router, gw: Gateway): void {
  r.get("/discovered", async (req, res) => {
    const days = intParam(req.query.expiringDays, "expiringDays", 0, 36_500);
    const weak = req.query.weak === "true" || req.query.weak === "1";
    const q = {
      expiringBefore: days !== undefined ? new Date(Date.now() + days * 86_400_000).toISOString() : undefined,
      weak, issuer: typeof req.query.issuer === "string" && req.query.issuer ? req.query.issuer : undefined,
    };
    const rows = await gw.store.discovery.list({ ...q, limit: intParam(req.query.limit, "limit", 1, 1000) ?? 100, offset: intParam(req.query.offset, "offset", 0, 1e9) ?? 0 });
    const warnDays = days ?? gw.config.expiryWarningDays;
    res.json({ total: await gw.store.discovery.count(q), discovered: rows.map((d) => discoveredJson(d, warnDays)) });
  });

  r.post("/discover", async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.paths !== undefined) throw new GatewayError("RA_ERR_MALFORMED", "the API scans network targets only; read files with `gateway discover --path`");
    const targets = body.targets;
    if (!Array.isArray(targets) || targets.length === 0 || targets.length > MAX_API_TARGETS || !targets.every((t) => typeof t === "string")) {
      throw new GatewayError("RA_ERR_MALFORMED", `targets must be 1 to ${MAX_API_TARGETS} "host:port" strings`);
    }
    for (const t of targets as string[]) {
      try {
        parseTarget(t);
      } catch (e) {
        throw new GatewayError("RA_ERR_MALFORMED", (e as Error).message);
      }
    }
    const timeoutMs = intParam(body.timeoutMs, "timeoutMs", 100, MAX_API_TIMEOUT_MS) ?? DEFAULT_TIMEOUT_MS;
    const warnDays = intParam(body.warnDays, "warnDays", 0, 3650) ?? gw.config.expiryWarningDays;
    const result = await discover({ targets: [...new Set(targets as string[])], timeoutMs, warnDays }, gw.store);
    await gw.audit.record({
      type: "inventory.discovered", actor: actorOf(req),
      data: { targets: result.endpoints.scanned, failed: result.endpoints.failed, recorded: result.recorded, findings: result.findings.length },
    });
    res.json(result);
  });

  r.get("/reports/crypto", async (req, res) => {
    const format = typeof req.query.format === "string" ? req.query.format : "json";
    if (format !== "json" && format !== "csv") throw new GatewayError("RA_ERR_MALFORMED", "format must be json or csv");
    const report = await buildCryptoReport(gw);
    if (format === "json") {
      res.json(report);
      return;
    }
    res.setHeader("Content-Disposition", 'attachment; filename="crypto-inventory.csv"');
    res.type("text/csv; charset=utf-8").send(cryptoReportCsv(report));
  });
}

function discoveredJson(d: DiscoveredCertificate, warnDays: number) {
  const { der: _der, ...rest } = d;
  let flags: string[] = [];
  try {
    flags = assess(certificateFacts(d.der), { now: new Date(), warnDays });
  } catch {
    flags = [];
  }
  return { ...rest, flags };
}
