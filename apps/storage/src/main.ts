import { createDb } from "@depot/db";
import { createDisks } from "./drivers";
import { EnvError, parseStorageEnv } from "./env";
import { log } from "./log";
import { startSchedules } from "./ops/schedule";
import { createStorageServer } from "./server";

let env: ReturnType<typeof parseStorageEnv>;
try {
  env = parseStorageEnv(process.env);
} catch (error) {
  if (!(error instanceof EnvError)) throw error;
  console.error(`storage service: ${error.message}`);
  process.exit(1);
}

const { db, close } = createDb(env.databaseUrl);
const disks = createDisks(env.disks, env.defaultDisk);
const server = createStorageServer({ env, db, disks });
const stopSchedules = startSchedules({ env, db, disks });
server.listen(env.port, env.host, () => {
  log("info", "storage service listening", { host: env.host, port: env.port, disks: Object.keys(env.disks) });
});

const shutdown = () => {
  const schedulesStopped = stopSchedules();
  server.close(() => void schedulesStopped.then(close).then(() => process.exit(0)));
  server.closeAllConnections();
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
