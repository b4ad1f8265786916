// vitest globalSetup: one throw-away PostgreSQL cluster for the whole run; test files get their own database on
// it through testDatabase() in ./postgres.ts. A failed start does not abort the run (the SQLite-only tests still
// run): the error is handed to the workers and every PostgreSQL test fails with it.
import type { TestProject } from "vitest/node";
import { startPostgres } from "./postgres.js";

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  try {
    const cluster = await startPostgres();
    project.provide("pgUrl", cluster.url);
    project.provide("pgError", "");
    return () => cluster.stop();
  } catch (e) {
    project.provide("pgUrl", "");
    project.provide("pgError", (e as Error).message);
    return undefined;
  }
}
