import { isUuid } from "@depot/contract";
import { CliError, type Credentials } from "./config";

export const USER_AGENT = "depot-cli/0.1.0";

/** Depot's one error shape, `{ error: { code, message } }`, as a CliError (401 → exit 3). */
export async function errorFrom(res: Response): Promise<CliError> {
  const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  const code = body?.error?.code ?? `http_${res.status}`;
  const message = body?.error?.message ?? `Depot answered HTTP ${res.status}`;
  if (res.status === 401) return new CliError("unauthorized", `the token was refused: ${message}`);
  return new CliError(code, message);
}

export function authHeaders(creds: Credentials): Record<string, string> {
  return { authorization: `Bearer ${creds.token}`, "user-agent": USER_AGENT };
}

export async function request(creds: Credentials, path: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(`${creds.url}${path}`, {
      ...init,
      headers: { ...authHeaders(creds), ...(init.headers as Record<string, string> | undefined) },
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    throw new CliError("unreachable", `cannot reach ${creds.url}${cause ? ` (${cause})` : ""}`);
  }
}

export async function getJson<T>(creds: Credentials, path: string): Promise<T> {
  const res = await request(creds, path);
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as T;
}

export interface Cohort {
  id: string;
  name: string;
  role: string;
  may: { upload: boolean; download: boolean; delete: boolean };
}

export interface FileRecord {
  id: string;
  name: string;
  cohortId: string;
  cohortName?: string;
  kind: string;
  status: string;
  size: number | null;
  sha256: string | null;
  uploader?: string | null;
  createdAt: string;
}

export const listCohorts = async (creds: Credentials) =>
  (await getJson<{ cohorts: Cohort[] }>(creds, "/api/cohorts")).cohorts;

export const fileRecord = (creds: Credentials, id: string) => {
  if (!isUuid(id)) throw new CliError("bad_request", `"${id}" is not a file id (a UUID)`, 2);
  return getJson<FileRecord>(creds, `/api/files/${id}`);
};

/** A cohort by id or by name (any letter case), among those the token reaches. */
export async function findCohort(creds: Credentials, nameOrId: string): Promise<Cohort> {
  const cohorts = await listCohorts(creds);
  const wanted = nameOrId.trim().toLowerCase();
  const found = cohorts.find((c) => c.id === wanted) ?? cohorts.find((c) => c.name.toLowerCase() === wanted);
  if (!found) {
    const names = cohorts.map((c) => c.name).join(", ") || "none";
    throw new CliError("not_found", `no cohort "${nameOrId}" reachable with this token (reachable: ${names})`);
  }
  return found;
}
