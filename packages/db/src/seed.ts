import type { Database } from "./client";
import { ensureCohort } from "./queries/cohorts";
import { createUser, findUserByEmail } from "./queries/users";

export const DEFAULT_ADMIN_EMAIL = "ewestlund@jhu.edu";
export const DEFAULT_ADMIN_PASSWORD = "admin123";
export const DEMO_COHORTS = [
  { name: "Demo Cohort A", description: "Example cohort created by pnpm seed" },
  { name: "Demo Cohort B", description: "Example cohort created by pnpm seed" },
];

export class SeedRefusedError extends Error {}

export interface SeedOptions {
  adminEmail?: string;
  adminPassword?: string;
  production?: boolean;
}

export interface SeedResult {
  adminEmail: string;
  created: string[];
}

/** Creates the superuser and the demo cohorts when missing. Never changes what already exists. */
export async function seed(db: Database, options: SeedOptions = {}): Promise<SeedResult> {
  const adminEmail = options.adminEmail ?? DEFAULT_ADMIN_EMAIL;
  const adminPassword = options.adminPassword ?? DEFAULT_ADMIN_PASSWORD;
  if (options.production && adminPassword === DEFAULT_ADMIN_PASSWORD) {
    throw new SeedRefusedError(
      "Refusing to seed the default admin password in production: set SEED_ADMIN_PASSWORD to a strong password.",
    );
  }
  const created: string[] = [];
  await db.transaction(async (tx) => {
    if (!(await findUserByEmail(tx, adminEmail))) {
      await createUser(tx, {
        email: adminEmail,
        name: "Administrator",
        password: adminPassword,
        isSuperuser: true,
        role: "administrator",
      });
      created.push(`superuser ${adminEmail}`);
    }
    for (const cohort of DEMO_COHORTS) {
      if ((await ensureCohort(tx, cohort)).created) created.push(`cohort ${cohort.name}`);
    }
  });
  return { adminEmail, created };
}
