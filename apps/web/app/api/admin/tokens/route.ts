import { listAccessTokens } from "@depot/db";
import { db } from "@/lib/db";
import { publicToken } from "../../tokens/token-api";
import { adminRoute } from "../admin-api";

export const dynamic = "force-dynamic";

/** Everyone's tokens with their owners, newest first (administrators; revoke with DELETE /api/tokens/:id). */
export function GET(req: Request) {
  return adminRoute(req, "admin_tokens", async () => {
    const rows = await listAccessTokens(db(), null);
    return Response.json({
      tokens: rows.map((r) => publicToken(r.token, { ownerEmail: r.ownerEmail, cohortName: r.cohortName })),
    });
  });
}
