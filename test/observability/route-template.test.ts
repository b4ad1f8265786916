import { describe, expect, it } from "vitest";
import { routeOf } from "../../src/server/route-template.js";

/** The request-duration histogram's labels: templates for every shape a client can send, never the raw path. */
describe("route templates", () => {
  const cases: Array<[string, string, string]> = [
    ["/ocsp", "ocsp", "/ocsp"],
    ["/ocsp/MFYwVKADAgEAME0wSzBJMAkGBSsOAwIaBQAEFA%3D%3D", "ocsp", "/ocsp/:request"],
    ["/healthz", "health", "/healthz"],
    ["/metrics", "metrics", "/metrics"],
    ["/acme/directory", "acme", "/acme/directory"],
    ["/acme/new-order", "acme", "/acme/new-order"],
    ["/acme/order/Zx81kd02Jd8", "acme", "/acme/order/:id"],
    ["/acme/order/Zx81kd02Jd8/finalize", "acme", "/acme/order/:id/finalize"],
    ["/acme/chall/a1b2/http-01", "acme", "/acme/chall/:id/:type"],
    ["/acme/cert/0a1b2c3d4e5f60718293a4b5c6d7e8f9", "acme", "/acme/cert/:serial"],
    ["/acme/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", "acme", "/acme/renewal-info/:certId"],
    ["/acme/devices/acct/abc/orders", "acme", "/acme/:endpoint/acct/:id/orders"],
    ["/acme/devices/directory", "acme", "/acme/:endpoint/directory"],
    ["/acme/devices/x/y/z/w", "acme", "/acme/:endpoint/*"],
    ["/.well-known/est/simpleenroll", "est", "/.well-known/est/simpleenroll"],
    ["/.well-known/est/routers/simplereenroll/", "est", "/.well-known/est/:label/simplereenroll"],
    ["/.WELL-KNOWN/EST/cacerts", "est", "/.well-known/est/cacerts"],
    ["/.well-known/est/routers/0123456789abcdef", "est", "/.well-known/est/*"],
    ["/.well-known/cmp", "cmp", "/.well-known/cmp"],
    ["/.well-known/cmp/p/vpn", "cmp", "/.well-known/cmp/p/:label"],
    ["/scep", "scep", "/scep"],
    ["/scep/mdm", "scep", "/scep/:endpoint"],
    ["/cgi-bin/pkiclient.exe", "scep", "/cgi-bin/pkiclient.exe"],
    ["/crl/dev-issuing.crl", "crl", "/crl/:file"],
    ["/ca/dev-root.pem", "other", "/ca/:file"],
    ["/console/app.js", "console", "/console/*"],
    ["/admin/api/v1/nothing/0a1b2c3d4e5f6071", "admin", "/admin/api/v1/*"],
    ["/wp-login.php", "other", "unmatched"],
    ["/0a1b2c3d4e5f60718293", "other", "unmatched"],
    ["constructor", "other", "unmatched"],
    ["http://proxy.example/acme/directory", "other", "unmatched"],
    ["*", "other", "unmatched"],
  ];
  it.each(cases)("%s → %s %s", (path, protocol, route) => {
    expect(routeOf(path)).toEqual({ protocol, route });
  });

  it("an express route gives its template (mount path lower-cased, so case variants are one label)", () => {
    expect(routeOf("/admin/api/v1/certificates/0A1B", { baseUrl: "/admin/api/v1", route: { path: "/certificates/:serial" } })).toEqual({ protocol: "admin", route: "/admin/api/v1/certificates/:serial" });
    expect(routeOf("/ADMIN/api/v1/certificates/0A1B", { baseUrl: "/ADMIN/api/v1", route: { path: "/certificates/:serial" } })).toBe(routeOf("/admin/api/v1/certificates/1", { baseUrl: "/admin/api/v1", route: { path: "/certificates/:serial" } }));
    // Array and RegExp routes have no single template: the prefix rule applies.
    expect(routeOf("/certsrv/mscep_admin/", { baseUrl: "", route: { path: ["/certsrv/mscep_admin", "/certsrv/mscep_admin/"] } })).toEqual({ protocol: "admin", route: "/certsrv/mscep_admin" });
    expect(routeOf("/admin/api/v1/scep/challenges", { baseUrl: "", route: { path: "/admin/api/v1/scep/challenges" } })).toEqual({ protocol: "admin", route: "/admin/api/v1/scep/challenges" });
  });

  it("random paths give a bounded set of labels", () => {
    const labels = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const junk = Math.random().toString(36).slice(2);
      for (const p of [`/${junk}`, `/acme/${junk}/${junk}/${junk}/x`, `/.well-known/est/${junk}/${junk}`, `/scep/${junk}/${junk}`, `/crl/${junk}/x`, `/console/${junk}`, `/admin/${junk}`]) {
        labels.add(routeOf(p).route);
      }
    }
    expect([...labels].sort()).toEqual(["/.well-known/est/*", "/acme/:endpoint/*", "/admin/*", "/console/*", "/crl/*", "/scep/*", "unmatched"]);
  });
});
