/**
 * Where to send someone after signing in: `target` only when it is a path on our own origin, as the browser
 * will read it. It is parsed as a URL against `origin` (tabs and newlines are dropped and `\` read as `/` by that
 * parser, as by browsers), must keep that origin, and the path handed back must not itself look like a
 * protocol-relative URL (`/.//evil.example` normalises to `//evil.example`). Anything else gives `fallback`.
 */
export function safeRedirectPath(target: string | null | undefined, origin: string, fallback = "/dashboard"): string {
  if (!target?.startsWith("/")) return fallback;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what browsers silently drop
  if (/[\u0000-\u001f\u007f\\]/.test(target)) return fallback;
  let url: URL;
  try {
    url = new URL(target, origin);
  } catch {
    return fallback;
  }
  if (url.origin !== new URL(origin).origin) return fallback;
  const path = `${url.pathname}${url.search}${url.hash}`;
  return path.startsWith("/") && !path.startsWith("//") ? path : fallback;
}
