import { afterAll } from "vitest";
import { removeTempDirs } from "./openssl.js";

// Runs after every test file's own afterAll hooks, so servers and stores are closed first.
afterAll(() => removeTempDirs());
