import express, { type Express } from "express";
import { mountAcme } from "../../protocols/acme/index.js";
import type { AcmeContext } from "../../protocols/acme/context.js";
import { mountEst } from "../../protocols/est/index.js";
import { mountScep, mountScepAdmin } from "../../protocols/scep/index.js";
import { mountCmp } from "../../protocols/cmp/index.js";
import type { Front } from "./plain-http.js";
import { EnrollmentSecrets } from "../enrollment/secrets.js";
import type { Gateway } from "../gateway.js";
import { adminRouter } from "./admin-api.js";
import { ConsoleSessions, mountConsole } from "./console.js";
import { enforcementHookRouter } from "./enforcement-hook.js";
import { jsonErrors, requestContext } from "./middleware.js";
import { observeGateway } from "./metrics-gateway.js";
import { opsRouter } from "./ops.js";
import { ocspHttp, type OcspHttp } from "./ocsp-http.js";
import { publicRouter } from "./public-routes.js";

export interface Apps {
  https: Express;
  http: Express;
  secrets: EnrollmentSecrets;
  acme?: AcmeContext;
  /** EST (HTTPS), SCEP and CMP (HTTP): served ahead of the express apps too, which keep the same mounts. */
  est?: Front;
  scep?: Front;
  cmp?: { front: Front; close(): Promise<void> };
  /** OCSP, served on both listeners ahead of the express apps (one responder, one pre-signed cache). */
  ocsp: OcspHttp;
}

/** The HTTPS app (admin API, ACME, EST) and the plain HTTP app (CRL, OCSP, SCEP; later CMP). */
export async function buildApps(gw: Gateway): Promise<Apps> {
  observeGateway(gw); // scrape-time metrics (expiry, readiness, outbox, revocations, CRLs): once per gateway
  const secrets = new EnrollmentSecrets(gw.store, gw.profiles, gw.audit, gw.secretSealKey);
  const ocsp = ocspHttp(gw);
  const base = (name: string) => {
    const app = express();
    app.disable("x-powered-by");
    app.set("trust proxy", false);
    app.use(requestContext(gw.log, name, gw.metrics));
    app.use(opsRouter(gw));
    return app;
  };
  const https = base("https");
  const acme = mountAcme(https, gw);
  const est = mountEst(https, gw, secrets);
  mountScepAdmin(https, gw, secrets);
  const sessions = new ConsoleSessions(gw.store.sessions);
  mountConsole(https, gw, sessions);
  https.use("/admin/api/v1", adminRouter(gw, secrets, sessions));
  https.use(enforcementHookRouter(gw));
  https.use(publicRouter(gw, ocsp));
  https.use(jsonErrors);

  const http = base("http");
  const scep = await mountScep(http, gw, secrets);
  const cmp = await mountCmp(http, gw, secrets);
  http.use(publicRouter(gw, ocsp));
  http.use(jsonErrors);
  return { https, http, secrets, acme, est, scep, cmp, ocsp };
}
