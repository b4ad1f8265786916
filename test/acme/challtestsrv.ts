import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "../helpers/ports.js";

export { freePort };

/**
 * pebble-challtestsrv (Debian package `pebble`) as a real DNS server for dns-01: TXT records are
 * set through its management API; A queries answer 127.0.0.1.
 */
export class ChallTestSrv {
  private constructor(private readonly proc: ChildProcess, readonly dnsPort: number, readonly mgmtPort: number) {}

  static async start(): Promise<ChallTestSrv> {
    const dnsPort = await freePort();
    const mgmtPort = await freePort();
    const proc = spawn("pebble-challtestsrv", ["-dns01", `127.0.0.1:${dnsPort}`, "-management", `127.0.0.1:${mgmtPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv6", ""], { stdio: "ignore" });
    const failed = new Promise<never>((_, reject) => proc.once("error", (e) => reject(new Error(`pebble-challtestsrv could not start (install the Debian package "pebble"): ${e.message}`))));
    const srv = new ChallTestSrv(proc, dnsPort, mgmtPort);
    for (let i = 0; i < 100; i++) {
      const up = await Promise.race([fetch(`http://127.0.0.1:${mgmtPort}/`).then(() => true, () => false), failed]);
      if (up) return srv;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill();
    throw new Error("pebble-challtestsrv did not come up");
  }

  get resolver(): string {
    return `127.0.0.1:${this.dnsPort}`;
  }

  async setTxt(host: string, value: string): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${this.mgmtPort}/set-txt`, { method: "POST", body: JSON.stringify({ host: host.endsWith(".") ? host : `${host}.`, value }) });
    if (!res.ok) throw new Error(`set-txt: ${res.status}`);
  }

  async clearTxt(host: string): Promise<void> {
    await fetch(`http://127.0.0.1:${this.mgmtPort}/clear-txt`, { method: "POST", body: JSON.stringify({ host: host.endsWith(".") ? host : `${host}.` }) });
  }

  stop(): void {
    this.proc.kill();
  }
}
