import type { AddressInfo } from "node:net";
import { createDb } from "@depot/db";
import { createDisks } from "./drivers";
import { EnvError, parseStorageEnv } from "./env";
import { log } from "./log";
import { replicaId, startReplicaHeartbeat } from "./ops/replica";
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
// Started once the server listens: the replica is named by its port (PORT=0 picks one).
let stopSchedules = async () => {};
let stopHeartbeat = async () => {};
server.listen(env.port, env.host, () => {
  const { port } = server.address() as AddressInfo;
  const replica = replicaId(env, port);
  stopSchedules = startSchedules({ env, db, disks, replica });
  stopHeartbeat = startReplicaHeartbeat({ env, db, disks }, { id: replica, port });
  log("info", "storage service listening", { host: env.host, port, replica, disks: Object.keys(env.disks) });
});

const shutdown = () => {
  const stopped = Promise.all([stopSchedules(), stopHeartbeat()]);
  server.close(() => void stopped.then(close).then(() => process.exit(0)));
  server.closeAllConnections();
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
