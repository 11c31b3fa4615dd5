import { listAccessTokens } from "@depot/db";
import { redirect } from "next/navigation";
import { formatTime } from "@/app/admin/format";
import { db } from "@/lib/db";
import { isAdministrator, visibleCohorts } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import { publicToken } from "../api/tokens/token-api";
import { CreateTokenForm } from "./create-token-form";
import { RevokeTokenButton } from "./revoke-token-button";

export const dynamic = "force-dynamic";

type Row = ReturnType<typeof publicToken> & { ownerEmail?: string; cohortName?: string | null };

function TokenTable({ tokens, showOwner, testId }: { tokens: Row[]; showOwner: boolean; testId: string }) {
  if (tokens.length === 0) return <p className="muted">No tokens.</p>;
  return (
    <table data-testid={testId}>
      <thead>
        <tr>
          <th>Name</th>
          {showOwner && <th>Owner</th>}
          <th>Token</th>
          <th>Cohort</th>
          <th>Permission</th>
          <th>Created</th>
          <th>Expires</th>
          <th>Last used</th>
          <th>State</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {tokens.map((t) => (
          <tr key={t.id} data-testid="token-row" data-name={t.name}>
            <td>{t.name}</td>
            {showOwner && <td>{t.ownerEmail}</td>}
            <td>
              <code>{t.prefix}…</code>
            </td>
            <td>{t.cohortName ?? <span className="muted">any</span>}</td>
            <td>{t.permission}</td>
            <td>{formatTime(t.createdAt)}</td>
            <td>{formatTime(t.expiresAt)}</td>
            <td>{formatTime(t.lastUsedAt)}</td>
            <td className={t.state === "active" ? "status-ok" : "status-bad"} data-testid="token-state">
              {t.state}
            </td>
            <td>{t.state === "active" && <RevokeTokenButton id={t.id} name={t.name} />}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export default async function TokensPage() {
  const me = await currentUser();
  if (!me) redirect("/login?callbackUrl=/tokens");
  const admin = isAdministrator(me);
  const [mine, cohorts, everyone] = await Promise.all([
    listAccessTokens(db(), me.id),
    visibleCohorts(me),
    admin ? listAccessTokens(db(), null) : Promise.resolve([]),
  ]);
  const rows = (list: typeof mine) =>
    list.map((r) => ({ ...publicToken(r.token), ownerEmail: r.ownerEmail, cohortName: r.cohortName }));

  return (
    <>
      <h1>Personal access tokens</h1>
      <p className="muted">
        A token lets a script (the <code>depot</code> command, curl) act as you with <code>Authorization: Bearer</code>,
        limited to one cohort and one permission if you choose, and never beyond what you may do yourself. Creating,
        using and revoking tokens is recorded in the audit trail.
      </p>
      <section className="card">
        <h2>New token</h2>
        <CreateTokenForm cohorts={cohorts.map(({ id, name }) => ({ id, name }))} />
      </section>
      <section className="card">
        <h2>Your tokens</h2>
        <TokenTable tokens={rows(mine)} showOwner={false} testId="my-tokens" />
      </section>
      {admin && (
        <section className="card">
          <h2>Everyone's tokens</h2>
          <TokenTable tokens={rows(everyone)} showOwner testId="all-tokens" />
        </section>
      )}
    </>
  );
}
