import { canonicalId, DepotError } from "@depot/contract";
import { type FileRow, findCohort, findFile, listCohorts, membershipsOf, roleInCohort, type User } from "@depot/db";
import type { RouteContext } from "./api";
import { db } from "./db";
import { tokenAllows, tokenOf } from "./tokens";

/** `read` is seeing a cohort and its file records (anyone with a role; a token of any permission). */
export type Action = "read" | "upload" | "download" | "delete";

export const isAdministrator = (user: User) => user.isSuperuser || user.role === "administrator";

/**
 * What a person may do in a cohort: administrators everything, managers all, viewers read and download.
 * A request made with a personal access token is further limited to the token's cohort and permission.
 */
export async function can(user: User, action: Action, cohortId: string): Promise<boolean> {
  if (!tokenAllows(user, action, cohortId)) return false;
  if (isAdministrator(user)) return true;
  const role = await roleInCohort(db(), user.id, cohortId);
  if (role === "manager") return true;
  return role === "viewer" && (action === "download" || action === "read");
}

export interface VisibleCohort {
  id: string;
  name: string;
  /** The person's membership role; administrators act in every cohort without one. */
  role: "administrator" | "manager" | "viewer";
  may: Record<Exclude<Action, "read">, boolean>;
}

/** The cohorts a person sees and what they may do in each, by the same rule as `can` (and a token's limits). */
export async function visibleCohorts(user: User): Promise<VisibleCohort[]> {
  const all = await visibleByRole(user);
  if (!tokenOf(user)) return all;
  return all
    .filter((c) => tokenAllows(user, "read", c.id))
    .map((c) => ({
      ...c,
      may: {
        upload: c.may.upload && tokenAllows(user, "upload", c.id),
        download: c.may.download && tokenAllows(user, "download", c.id),
        delete: c.may.delete && tokenAllows(user, "delete", c.id),
      },
    }));
}

async function visibleByRole(user: User): Promise<VisibleCohort[]> {
  if (isAdministrator(user)) {
    return (await listCohorts(db())).map((c) => ({
      id: c.id,
      name: c.name,
      role: "administrator",
      may: { upload: true, download: true, delete: true },
    }));
  }
  return (await membershipsOf(db(), user.id)).map((m) => {
    const manager = m.role === "manager";
    return { id: m.cohortId, name: m.name, role: m.role, may: { upload: manager, download: true, delete: manager } };
  });
}

/** `cohortId` must be canonical (lower case, see canonicalId): it becomes a storage key prefix. */
export async function requireCohortPermission(user: User, action: Action, cohortId: string): Promise<void> {
  if (canonicalId(cohortId) !== cohortId || !(await findCohort(db(), cohortId))) {
    throw new DepotError("not_found", "no such cohort");
  }
  if (!(await can(user, action, cohortId))) {
    if (!tokenAllows(user, action, cohortId)) {
      throw new DepotError("forbidden", `this personal access token does not allow ${action} in this cohort`);
    }
    throw new DepotError("forbidden", `you may not ${action} files in this cohort`);
  }
}

export async function requireFilePermission(user: User, action: Action, file: FileRow | undefined): Promise<FileRow> {
  if (!file || file.status === "deleted") throw new DepotError("not_found", "no such file");
  if (!(await can(user, action, file.cohortId))) {
    if (!tokenAllows(user, action, file.cohortId)) {
      throw new DepotError("forbidden", `this personal access token does not allow ${action} of this file`);
    }
    throw new DepotError("forbidden", `you may not ${action} this file`);
  }
  return file;
}

/**
 * The file a route's path names (any spelling of its id), if this person may `action` it; the file and its cohort
 * become the route's target, so a refusal's access_denied row names them.
 */
export async function requireFileInRoute(
  ctx: RouteContext,
  user: User,
  rawId: string,
  action: Action,
): Promise<FileRow> {
  const id = canonicalId(rawId);
  const file = id ? await findFile(db(), id) : undefined;
  if (file) Object.assign(ctx.target, { fileId: file.id, cohortId: file.cohortId });
  return requireFilePermission(user, action, file);
}
