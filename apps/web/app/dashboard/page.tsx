import { redirect } from "next/navigation";
import { isAdministrator } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import { fetchStorageHealth } from "@/lib/storage-client";

export const dynamic = "force-dynamic";

export default async function DashboardPage() {
  const user = await currentUser();
  if (!user) redirect("/login?callbackUrl=/dashboard");
  const health = await fetchStorageHealth();
  const disks = (health.detail?.disks as { name: string; driver: string; ok: boolean; ms: number }[] | undefined) ?? [];
  return (
    <>
      <h1>Dashboard</h1>
      <div className="grid">
        <section className="card">
          <h2>Signed in</h2>
          <p data-testid="dashboard-user">
            {user.name} · {user.email}
          </p>
          <p className="muted">
            {user.isSuperuser ? "Superuser · " : ""}
            {isAdministrator(user) ? "Administrator" : "Member"}
          </p>
        </section>
        <section className="card" data-testid="storage-health">
          <h2>Storage service</h2>
          <p>
            Status:{" "}
            <span className={health.status === "ok" ? "status-ok" : "status-bad"} data-testid="storage-status">
              {health.status === "ok" ? "healthy" : health.status}
            </span>
          </p>
          {health.message && <p className="muted">{health.message}</p>}
          {disks.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th>Disk</th>
                  <th>Driver</th>
                  <th>Probe</th>
                </tr>
              </thead>
              <tbody>
                {disks.map((d) => (
                  <tr key={d.name}>
                    <td>{d.name}</td>
                    <td>{d.driver}</td>
                    <td className={d.ok ? "status-ok" : "status-bad"}>{d.ok ? `ok (${d.ms} ms)` : "failed"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
    </>
  );
}
