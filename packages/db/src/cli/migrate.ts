import { runMigrations } from "../migrate";
import { withDatabase } from "./database";

await withDatabase(async (url) => {
  await runMigrations(url);
  console.log("Migrations applied.");
});
