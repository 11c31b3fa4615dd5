import { listCohortsWithCounts, listUsers } from "@depot/db";
import { redirect } from "next/navigation";
import { db } from "@/lib/db";
import { isAdministrator } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import { CreateCohortForm } from "./create-cohort-form";
import { CreateUserForm } from "./create-user-form";
import { AdministratorsOnly } from "./forbidden";
import { formatBytes, formatTime } from "./format";
import { MembershipForm } from "./membership-form";
import { RemoveMembershipButton } from "./remove-membership-button";
import { UserActions } from "./user-actions";

export const dynamic = "force-dynamic";

export default async function AdminPage() {
  const me = await currentUser();
  if (!me) redirect("/login?callbackUrl=/admin");
  if (!isAdministrator(me)) return <AdministratorsOnly user={me} page="admin_page" />;
  const [users, cohorts] = await Promise.all([listUsers(db()), listCohortsWithCounts(db())]);

  return (
    <>
      <h1>Administration</h1>
      <p className="muted">
        Every change here is recorded in the <a href="/audit">audit trail</a>.
      </p>

      <section className="card">
        <h2>Users</h2>
        <table data-testid="users-table">
          <thead>
            <tr>
              <th>Email</th>
              <th>Name</th>
              <th>Role</th>
              <th>Active</th>
              <th>Last login</th>
              <th>Memberships</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} data-testid="user-row" data-email={u.email}>
                <td>{u.email}</td>
                <td>{u.name}</td>
                <td>
                  {u.role}
                  {u.isSuperuser && <span className="muted"> · superuser</span>}
                </td>
                <td className={u.isActive ? "status-ok" : "status-bad"}>{u.isActive ? "active" : "inactive"}</td>
                <td>{formatTime(u.lastLoginAt)}</td>
                <td>
                  {u.memberships.length === 0 ? (
                    <span className="muted">none</span>
                  ) : (
                    <ul style={{ margin: 0, paddingLeft: "1rem" }}>
                      {u.memberships.map((m) => (
                        <li key={m.cohortId} data-testid="membership">
                          {m.cohortName} ({m.role}){" "}
                          <RemoveMembershipButton
                            userId={u.id}
                            cohortId={m.cohortId}
                            label={`${u.email} from ${m.cohortName}`}
                          />
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>
                  <UserActions userId={u.id} email={u.email} active={u.isActive} role={u.role} self={u.id === me.id} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <div className="grid">
        <section className="card">
          <h2>Create a user</h2>
          <CreateUserForm />
        </section>
        <section className="card">
          <h2>Set a membership</h2>
          <MembershipForm
            users={users.map((u) => ({ id: u.id, email: u.email, name: u.name }))}
            cohorts={cohorts.map((c) => ({ id: c.id, name: c.name }))}
          />
        </section>
      </div>

      <section className="card">
        <h2>Cohorts</h2>
        <table data-testid="cohorts-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Description</th>
              <th>Members</th>
              <th>Files</th>
              <th>Bytes stored</th>
            </tr>
          </thead>
          <tbody>
            {cohorts.map((c) => (
              <tr key={c.id} data-testid="cohort-row" data-name={c.name}>
                <td>{c.name}</td>
                <td className="muted">{c.description}</td>
                <td>{c.members}</td>
                <td>{c.files}</td>
                <td title={`${c.bytes} bytes`}>{formatBytes(c.bytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section className="card">
        <h2>Create a cohort</h2>
        <CreateCohortForm />
      </section>
    </>
  );
}
