import type { User } from "@depot/db";
import { headers } from "next/headers";
import { auditWeb } from "@/lib/audit";
import { requestInfoOf } from "@/lib/request";

/**
 * What a signed-in person who is not an administrator sees on the admin and audit pages; the refusal leaves an
 * access_denied row, as the API's refusals do.
 */
export async function AdministratorsOnly({ user, page }: { user: User; page: string }) {
  await auditWeb(requestInfoOf(await headers()), user, {
    action: "access_denied",
    outcome: "denied",
    error: "forbidden",
    metadata: { route: page, method: "GET" },
  }).catch(() => {});
  return (
    <section className="card" data-testid="forbidden">
      <h1>403: administrators only</h1>
      <p>This page is for Depot administrators. Ask an administrator if you need access.</p>
      <p>
        <a href="/dashboard">Back to the dashboard</a>
      </p>
    </section>
  );
}
