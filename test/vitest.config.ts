import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["test/**/*.test.ts"],
    // graphene-pk11 and better-sqlite3 are native: separate processes keep module state apart.
    pool: "forks",
    setupFiles: ["test/helpers/cleanup.ts"],
    // One throw-away PostgreSQL cluster per run; each PostgreSQL test file creates its own database on it.
    globalSetup: ["test/helpers/pg-global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
