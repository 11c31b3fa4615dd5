import {
  lastMaintenanceRuns,
  listCohorts,
  listReplicas,
  membershipsOf,
  type ReplicaStatus,
  recentFilesOf,
  uploadsInProgressOf,
} from "@depot/db";
import { redirect } from "next/navigation";
import { db } from "@/lib/db";
import { formatBytes, formatTime } from "@/lib/format";
import { formatAge } from "@/lib/health";
import { isAdministrator } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import { fetchStorageHealth, fetchStorageUsage } from "@/lib/storage-client";
import { CleanupPreview } from "./maintenance";

export const dynamic = "force-dynamic";

export default async function DashboardPage() {
  const user = await currentUser();
  if (!user) redirect("/login?callbackUrl=/dashboard");
  const admin = isAdministrator(user);
  const [health, usage, recent, inProgress, memberships, allCohorts, cleanups, integrityChecks, replicas] =
    await Promise.all([
      fetchStorageHealth(),
      fetchStorageUsage(),
      recentFilesOf(db(), user.id),
      uploadsInProgressOf(db(), user.id),
      membershipsOf(db(), user.id),
      listCohorts(db()),
      lastMaintenanceRuns(db(), "cleanup_run"),
      lastMaintenanceRuns(db(), "integrity_check"),
      // Every replica's heartbeat, from the database: the health answer above comes from one storage replica only.
      admin ? listReplicas(db()).catch((): ReplicaStatus[] => []) : Promise.resolve([]),
    ]);
  const disks = (health.detail?.disks as { name: string; driver: string; ok: boolean; ms: number }[] | undefined) ?? [];
  const visible = new Set(admin ? allCohorts.map((c) => c.id) : memberships.map((m) => m.cohortId));
  const cohortNames = new Map(allCohorts.map((c) => [c.id, c.name]));
  const bytesByCohort = [...(usage?.entries() ?? [])]
    .filter(([prefix]) => visible.has(prefix))
    .map(([prefix, u]) => ({ name: cohortNames.get(prefix) ?? prefix, ...u }))
    .sort((a, b) => b.bytes - a.bytes);
  const largest = Math.max(1, ...bytesByCohort.map((c) => c.bytes));

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
            {admin ? "Administrator" : "Member"}
          </p>
          <h2>Your cohorts</h2>
          {memberships.length === 0 ? (
            <p className="muted">{admin ? "Administrators see every cohort." : "No cohort memberships yet."}</p>
          ) : (
            <ul data-testid="my-cohorts">
              {memberships.map((m) => (
                <li key={m.cohortId}>
                  {m.name} <span className="muted">({m.role})</span>
                </li>
              ))}
            </ul>
          )}
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
          {admin && <ReplicaTable replicas={replicas} />}
        </section>
        <section className="card" data-testid="usage">
          <h2>Bytes stored per cohort</h2>
          {bytesByCohort.length === 0 ? (
            <p className="muted">Nothing stored yet.</p>
          ) : (
            <table>
              <tbody>
                {bytesByCohort.map((c) => (
                  <tr key={c.name}>
                    <td>{c.name}</td>
                    <td style={{ width: "45%" }}>
                      <div className="bar" style={{ width: `${Math.max(2, (c.bytes / largest) * 100)}%` }} />
                    </td>
                    <td>
                      {formatBytes(c.bytes)} <span className="muted">({c.files})</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
      <section className="card" data-testid="in-progress">
        <h2>Uploads in progress</h2>
        {inProgress.length === 0 ? (
          <p className="muted">None. To resume an interrupted upload, choose the same file again on the upload page.</p>
        ) : (
          <table>
            <tbody>
              {inProgress.map((u) => (
                <tr key={u.fileId}>
                  <td className="name-cell">
                    <span className="long-name" title={u.name}>
                      {u.name}
                    </span>
                  </td>
                  <td>{u.cohortName}</td>
                  <td>
                    {formatBytes(u.offset)} of {u.length === null ? "a length still to come" : formatBytes(u.length)}
                  </td>
                  <td className="muted">last activity {formatTime(u.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {admin && (
        <section className="card" data-testid="maintenance">
          <h2>Maintenance</h2>
          <div className="grid">
            <div>
              <h3>Last cleanups</h3>
              <RunList
                runs={cleanups}
                empty="No cleanup has run yet."
                describe={(m) =>
                  `found ${m.found ?? 0}, cleaned ${m.cleaned ?? 0}, failed ${m.failed ?? 0}${m.dryRun ? " (dry run)" : ""}`
                }
              />
            </div>
            <div>
              <h3>Last integrity checks</h3>
              <RunList
                runs={integrityChecks}
                empty="No integrity check has run yet."
                describe={(m) =>
                  `${m.checkedFiles ?? 0} files${m.checkHashes ? " with sha256" : ""}, ${m.problems ?? 0} problem(s)`
                }
              />
            </div>
          </div>
          <CleanupPreview />
        </section>
      )}
      <section className="card" data-testid="recent-uploads">
        <h2>Your recent uploads</h2>
        {recent.length === 0 ? (
          <p className="muted">
            No uploads yet. <a href="/upload">Upload a file</a>.
          </p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Cohort</th>
                <th>Kind</th>
                <th>Status</th>
                <th>Size</th>
              </tr>
            </thead>
            <tbody>
              {recent.map(({ file, cohortName }) => (
                <tr key={file.id}>
                  <td className="name-cell">
                    <span className="long-name" title={file.originalName}>
                      {file.originalName}
                    </span>
                  </td>
                  <td>{cohortName}</td>
                  <td>{file.kind}</td>
                  <td>{file.status}</td>
                  <td>{file.size === null ? "–" : formatBytes(file.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

type Run = { occurredAt: Date; outcome: string; metadata: Record<string, unknown> };

function RunList({
  runs,
  empty,
  describe,
}: {
  runs: Run[];
  empty: string;
  describe: (m: Record<string, number | boolean>) => string;
}) {
  if (runs.length === 0) return <p className="muted">{empty}</p>;
  return (
    <ul>
      {runs.map((run) => (
        <li key={run.occurredAt.toISOString()}>
          {formatTime(run.occurredAt)} ·{" "}
          <span className={run.outcome === "success" ? "status-ok" : "status-bad"}>{run.outcome}</span> ·{" "}
          {describe(run.metadata as Record<string, number | boolean>)}
        </li>
      ))}
    </ul>
  );
}

/** Every storage replica and web server with a heartbeat: where it runs, its version, its last beat. */
function ReplicaTable({ replicas }: { replicas: ReplicaStatus[] }) {
  const storage = replicas.filter((r) => r.role === "services");
  return (
    <div data-testid="replicas">
      <h3>Replicas</h3>
      {storage.length === 0 && <p className="muted">No storage replica has written a heartbeat.</p>}
      {replicas.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Replica</th>
              <th>Role</th>
              <th>Version</th>
              <th>Last heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {replicas.map((r) => (
              <tr key={r.id} data-testid="replica" data-role={r.role} data-alive={r.alive}>
                <td>
                  <code>{r.id}</code> <span className="muted">pid {r.pid}</span>
                </td>
                <td>{r.role === "services" ? "storage" : r.role}</td>
                <td>{r.version}</td>
                <td className={r.alive ? "status-ok" : "status-bad"}>
                  {formatAge(r.lastSeenAgoMs)} ago · {r.alive ? "alive" : "stale"}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
