import { createDb } from "../client";
import { runMigrations } from "../migrate";
import { SeedRefusedError, seed } from "../seed";
import { withDatabase } from "./database";

await withDatabase(async (url) => {
  await runMigrations(url);
  const { db, close } = createDb(url, { max: 2 });
  try {
    const result = await seed(db, {
      adminEmail: process.env.SEED_ADMIN_EMAIL || undefined,
      adminPassword: process.env.SEED_ADMIN_PASSWORD || undefined,
      production: process.env.NODE_ENV === "production",
    });
    if (result.created.length === 0) console.log("Seed: nothing to do, everything already exists.");
    else for (const line of result.created) console.log(`Seed: created ${line}`);
  } catch (error) {
    if (error instanceof SeedRefusedError) {
      console.error(error.message);
      process.exitCode = 1;
      return;
    }
    throw error;
  } finally {
    await close();
  }
});
