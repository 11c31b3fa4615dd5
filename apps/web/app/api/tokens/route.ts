import { DepotError } from "@depot/contract";
import { createAccessToken, listAccessTokens } from "@depot/db";
import { z } from "zod";
import { auditWeb } from "@/lib/audit";
import { db } from "@/lib/db";
import { visibleCohorts } from "@/lib/permissions";
import { generateToken, MAX_TOKEN_DAYS, TOKEN_PERMISSIONS } from "@/lib/tokens";
import { parseBody, UUID } from "../admin/admin-api";
import { publicToken, tokenRoute } from "./token-api";

export const dynamic = "force-dynamic";

const DAY_MS = 24 * 60 * 60 * 1000;

const createBody = z.object({
  name: z.string().trim().min(1).max(100),
  /** Days from now, 1 to 365 (default 90). */
  expiresInDays: z.number().int().min(1).max(MAX_TOKEN_DAYS).default(90),
  cohortId: z.string().regex(UUID, { error: "must be a UUID" }).nullable().default(null),
  permission: z.enum(TOKEN_PERMISSIONS as ["read", "download", "upload"]),
});

/** The signed-in person's own tokens, newest first (never the secrets). */
export function GET(req: Request) {
  return tokenRoute(req, "tokens", async ({ user }) => {
    const rows = await listAccessTokens(db(), user.id);
    return Response.json({ tokens: rows.map((r) => publicToken(r.token, { cohortName: r.cohortName })) });
  });
}

/**
 * Creates a token from `{ name, expiresInDays (≤ 365), cohortId?, permission: read | download | upload }`.
 * The secret is in this answer only; the database keeps its SHA-256. A cohort scope must be one the person
 * sees, with a permission they have there now.
 */
export function POST(req: Request) {
  return tokenRoute(req, "tokens", async ({ user, info }) => {
    const input = await parseBody(req, createBody);
    if (input.cohortId) {
      const cohort = (await visibleCohorts(user)).find((c) => c.id === input.cohortId);
      if (!cohort) throw new DepotError("not_found", "no such cohort");
      if (input.permission !== "read" && !cohort.may[input.permission]) {
        throw new DepotError("forbidden", `you may not ${input.permission} in this cohort, so no token can`);
      }
    }
    const { secret, hash, prefix } = generateToken();
    const token = await db().transaction(async (tx) => {
      const created = await createAccessToken(tx, {
        userId: user.id,
        name: input.name,
        tokenHash: hash,
        tokenPrefix: prefix,
        cohortId: input.cohortId,
        permission: input.permission,
        expiresAt: new Date(Date.now() + input.expiresInDays * DAY_MS),
      });
      const metadata = {
        tokenId: created.id,
        tokenName: created.name,
        permission: created.permission,
        expiresAt: created.expiresAt.toISOString(),
      };
      await auditWeb(
        info,
        user,
        { action: "token_created", outcome: "success", cohortId: created.cohortId, metadata },
        tx,
      );
      return created;
    });
    return Response.json({ token: publicToken(token), secret }, { status: 201 });
  });
}
