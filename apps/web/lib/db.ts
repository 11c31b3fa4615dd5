import { createDb, type Database } from "@depot/db";
import { getEnv } from "./env";

// One pool per process; Next may evaluate this module more than once in development.
const globalForDb = globalThis as unknown as { depotDb?: Database };

export function db(): Database {
  globalForDb.depotDb ??= createDb(getEnv().databaseUrl).db;
  return globalForDb.depotDb;
}
