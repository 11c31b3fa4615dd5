import { DepotError } from "@depot/contract";
import { type FileRow, findCohort, roleInCohort, type User } from "@depot/db";
import { db } from "./db";

export type Action = "upload" | "download" | "delete";

export const isAdministrator = (user: User) => user.isSuperuser || user.role === "administrator";

/** What a person may do in a cohort: administrators everything, managers all three, viewers download. */
export async function can(user: User, action: Action, cohortId: string): Promise<boolean> {
  if (isAdministrator(user)) return true;
  const role = await roleInCohort(db(), user.id, cohortId);
  if (role === "manager") return true;
  return role === "viewer" && action === "download";
}

export async function requireCohortPermission(user: User, action: Action, cohortId: string): Promise<void> {
  if (!/^[0-9a-f-]{36}$/i.test(cohortId) || !(await findCohort(db(), cohortId))) {
    throw new DepotError("not_found", "no such cohort");
  }
  if (!(await can(user, action, cohortId))) {
    throw new DepotError("forbidden", `you may not ${action} files in this cohort`);
  }
}

export async function requireFilePermission(user: User, action: Action, file: FileRow | undefined): Promise<FileRow> {
  if (!file || file.status === "deleted") throw new DepotError("not_found", "no such file");
  if (!(await can(user, action, file.cohortId))) throw new DepotError("forbidden", `you may not ${action} this file`);
  return file;
}
