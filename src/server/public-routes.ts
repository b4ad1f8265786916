import type express from "express";
import { Router } from "express";
import { derToPem } from "../ca/authority.js";
import type { Gateway } from "../gateway.js";
import type { OcspHttp } from "./ocsp-http.js";

/** CRLs, CA certificates and OCSP: plain HTTP, unauthenticated, cacheable. */
export function publicRouter(gw: Gateway, ocsp: OcspHttp): Router {
  const r = Router();

  r.get("/crl/:file", async (req, res) => {
    const m = /^([a-z0-9._-]+)\.crl$/.exec(String(req.params.file));
    const ca = m ? gw.cas.find(m[1]) : undefined;
    if (!ca || !m || m[1] === "default") {
      res.status(404).type("text/plain").send("no such CRL\n");
      return;
    }
    const crl = await gw.crls.current(ca);
    res.setHeader("Cache-Control", `public, max-age=${Math.max(0, Math.floor((new Date(crl.nextUpdate).getTime() - Date.now()) / 2000))}`);
    res.setHeader("Last-Modified", new Date(crl.thisUpdate).toUTCString());
    res.type("application/pkix-crl").send(Buffer.from(crl.der));
  });

  r.get("/ca/:file", (req, res) => {
    const m = /^([a-z0-9._-]+)\.(crt|pem)$/.exec(String(req.params.file));
    const ca = m ? gw.cas.find(m[1]) : undefined;
    if (!ca || !m) {
      res.status(404).type("text/plain").send("no such CA\n");
      return;
    }
    if (m[2] === "crt") res.type("application/pkix-cert").send(Buffer.from(ca.certDer));
    else res.type("application/x-pem-file").send([ca.certDer, ...ca.chain].map((d) => derToPem(d)).join(""));
  });

  // Normally served before express (listen.ts); these routes answer the same for anything that reaches the app.
  const ctx = (req: express.Request) => ({ id: req.id, log: req.log });
  r.post("/ocsp", (req, res) => ocsp.serve(ctx(req), req, res));
  r.get(/^\/ocsp\/(.+)$/, (req, res) => ocsp.serve(ctx(req), req, res));
  return r;
}
