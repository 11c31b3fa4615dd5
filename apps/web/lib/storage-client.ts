import { HEADER, isErrorBody } from "@depot/contract";
import got from "got";
import { getEnv } from "./env";

/** got, pointed at the storage service on the private network with the internal API key. */
export function storageClient() {
  const env = getEnv();
  return got.extend({
    prefixUrl: env.servicesUrl,
    headers: { [HEADER.apiKey]: env.apiKey },
    retry: { limit: 0 },
    throwHttpErrors: false,
  });
}

export interface StorageHealth {
  reachable: boolean;
  status: "ok" | "degraded" | "unreachable";
  detail: Record<string, unknown> | null;
  message?: string;
}

export async function fetchStorageHealth(): Promise<StorageHealth> {
  try {
    const res = await storageClient().get("internal/storage/health", { timeout: { request: 5_000 } });
    const body = JSON.parse(res.body) as Record<string, unknown>;
    if (isErrorBody(body)) return { reachable: true, status: "degraded", detail: null, message: body.error.message };
    return { reachable: true, status: res.statusCode === 200 ? "ok" : "degraded", detail: body };
  } catch {
    return { reachable: false, status: "unreachable", detail: null, message: "the storage service did not answer" };
  }
}
