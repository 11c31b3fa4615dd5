import { AsyncLocalStorage } from "node:async_hooks";

/*
 * next/headers for route handlers called directly in tests. Next gives `headers()` and `cookies()` the request
 * they run in; outside its server they throw. This stand-in gives them the Request a test passes to `inRequest`,
 * so the session code (lib/session, lib/auth, lib/tokens) runs unchanged on the cookie the test sends. A test file
 * uses it with `vi.mock("next/headers", () => import("@/lib/testing/next-headers"))`.
 */

const current = new AsyncLocalStorage<Request>();

/** Runs `handler` as Next would for `req`: next/headers answers from this request. */
export function inRequest<T>(req: Request, handler: () => T): T {
  return current.run(req, handler);
}

function request(): Request {
  const req = current.getStore();
  if (!req) throw new Error("next/headers was called outside inRequest(): wrap the handler call");
  return req;
}

export async function headers(): Promise<Headers> {
  return request().headers;
}

export async function cookies() {
  const jar = new Map<string, string>();
  for (const pair of (request().headers.get("cookie") ?? "").split(";")) {
    const at = pair.indexOf("=");
    if (at > 0) jar.set(pair.slice(0, at).trim(), decodeURIComponent(pair.slice(at + 1).trim()));
  }
  return {
    get: (name: string) => (jar.has(name) ? { name, value: jar.get(name) as string } : undefined),
    has: (name: string) => jar.has(name),
  };
}
