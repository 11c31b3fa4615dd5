import { canonicalId, DepotError } from "@depot/contract";
import { findAccessToken, revokeAccessToken } from "@depot/db";
import { auditWeb } from "@/lib/audit";
import { db } from "@/lib/db";
import { isAdministrator } from "@/lib/permissions";
import { publicToken, tokenRoute } from "../token-api";

export const dynamic = "force-dynamic";

type Context = { params: Promise<{ id: string }> };

/** Revokes a token: its owner's own, or anyone's for administrators. It stops working on the next request. */
export function DELETE(req: Request, context: Context) {
  return tokenRoute(req, "token_revoke", async ({ user, info }) => {
    const id = canonicalId((await context.params).id);
    const token = id ? await findAccessToken(db(), id) : undefined;
    // Someone else's token is "not found" to a non-administrator: ids are not confirmed to strangers.
    if (!token || (token.userId !== user.id && !isAdministrator(user))) {
      throw new DepotError("not_found", "no such token");
    }
    const revoked = await db().transaction(async (tx) => {
      const row = await revokeAccessToken(tx, token.id, user.id);
      // Already revoked (now or by a concurrent request): answer with the row as it is, no second audit row.
      if (!row) return findAccessToken(tx, token.id);
      const metadata = { tokenId: row.id, tokenName: row.name, ownerId: row.userId };
      await auditWeb(info, user, { action: "token_revoked", outcome: "success", cohortId: row.cohortId, metadata }, tx);
      return row;
    });
    if (!revoked) throw new DepotError("not_found", "no such token");
    return Response.json({ token: publicToken(revoked) });
  });
}
