import { api } from "@/lib/api";
import { isAdministrator } from "@/lib/permissions";
import { requireUser } from "@/lib/session";
import { tokenOf } from "@/lib/tokens";
import { publicToken } from "../tokens/token-api";

export const dynamic = "force-dynamic";

/** Who the request is from, and the token it came with (for `depot login` and `depot whoami`). */
export function GET() {
  return api(async () => {
    const user = await requireUser();
    const token = tokenOf(user);
    return Response.json({
      user: { id: user.id, email: user.email, name: user.name, administrator: isAdministrator(user) },
      token: token ? publicToken(token) : null,
    });
  });
}
