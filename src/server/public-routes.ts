import express, { Router } from "express";
import { derToPem } from "../ca/authority.js";
import type { Gateway } from "../gateway.js";
import { decodeOcspGetPath, respondOcsp, type StatusLookup } from "../revocation/ocsp.js";

/** CRLs, CA certificates and OCSP: plain HTTP, unauthenticated, cacheable. */
export function publicRouter(gw: Gateway): Router {
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

  const lookup: StatusLookup = (caName, serial) => {
    const rec = gw.store.getCertificate(serial);
    if (!rec || rec.caName !== caName || rec.stage !== "issued") return { status: "unknown" };
    if (rec.revokedAt) return { status: "revoked", revokedAt: new Date(rec.revokedAt), reason: rec.revocationReason };
    return { status: "good" };
  };
  const send = async (req: express.Request, res: express.Response, body: Uint8Array | undefined) => {
    const out = await respondOcsp(body ?? new Uint8Array(), gw.cas.issuing, lookup, {
      validityMinutes: gw.config.ocsp.responseValidityMinutes,
      onError: (e) => (e.kind === "internal" ? req.log.error({ code: e.code, detail: e.detail }, "OCSP internal error") : req.log.info({ code: e.code }, e.message)),
    });
    res.type("application/ocsp-response").send(Buffer.from(out));
  };
  r.post("/ocsp", express.raw({ type: () => true, limit: 8 * 1024 }), async (req, res) => {
    await send(req, res, Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : undefined);
  });
  r.get(/^\/ocsp\/(.+)$/, async (req, res) => {
    const path = req.originalUrl.slice(req.originalUrl.indexOf("/ocsp/") + 6);
    await send(req, res, decodeOcspGetPath(path));
  });
  return r;
}
