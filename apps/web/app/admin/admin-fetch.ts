/** Sends JSON to an admin API route; resolves to null on success or to a message fit to show. */
export async function sendJson(method: "POST" | "PATCH" | "PUT" | "DELETE", url: string, body: unknown) {
  try {
    const res = await fetch(url, {
      method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (res.ok) return null;
    const data = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    return data?.error?.message ?? `The request failed (HTTP ${res.status}).`;
  } catch {
    return "The server could not be reached. Check your connection and try again.";
  }
}

/** The shortest password an administrator may set; the admin API enforces it too. */
export const MIN_PASSWORD_LENGTH = 12;
