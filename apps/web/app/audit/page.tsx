import {
  type AuditCheckpoint,
  type AuditListRow,
  auditTail,
  checkpointKeyFromEnv,
  checkpointTrusted,
  formatAnchor,
  latestAuditCheckpoint,
  listCohorts,
  listUsers,
  searchAudit,
} from "@depot/db";
import { redirect } from "next/navigation";
import { AdministratorsOnly } from "@/app/admin/forbidden";
import { formatTime } from "@/app/admin/format";
import { db } from "@/lib/db";
import { isAdministrator } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import styles from "./audit.module.css";
import { AUDIT_PAGE_SIZE, filterParams, parseAuditQuery } from "./audit-query";

export const dynamic = "force-dynamic";

/** Actions both tiers write today; the field accepts any other name too. */
const KNOWN_ACTIONS = [
  "stream_upload",
  "stream_upload_aborted",
  "stream_download",
  "chunked_upload_created",
  "chunked_upload_completed",
  "chunked_upload_aborted",
  "file_deleted",
  "prefix_deleted",
  "cleanup_deleted",
  "access_denied",
  "login_failed",
  "user_created",
  "user_activated",
  "user_deactivated",
  "password_reset",
  "role_changed",
  "cohort_created",
  "membership_set",
  "membership_removed",
  "audit_exported",
];

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

const href = (params: Record<string, string>) => {
  const query = new URLSearchParams(params).toString();
  return query ? `/audit?${query}` : "/audit";
};

/** Consecutive rows with the same request id form one block; blocks alternate between two shades. */
function groupClasses(rows: AuditListRow[]): (string | undefined)[] {
  const classes: (string | undefined)[] = [];
  let block = -1;
  rows.forEach((row, i) => {
    const prev = rows[i - 1];
    const next = rows[i + 1];
    const sameAsPrev = !!row.requestId && prev?.requestId === row.requestId;
    const sameAsNext = !!row.requestId && next?.requestId === row.requestId;
    if (!sameAsPrev && sameAsNext) block++;
    classes.push(sameAsPrev || sameAsNext ? (block % 2 === 0 ? styles.groupA : styles.groupB) : undefined);
  });
  return classes;
}

const tierClass = { web: styles.tierWeb, services: styles.tierServices, cli: styles.tierCli };

export default async function AuditPage({ searchParams }: { searchParams: SearchParams }) {
  const me = await currentUser();
  if (!me) redirect("/login?callbackUrl=/audit");
  if (!isAdministrator(me)) return <AdministratorsOnly user={me} page="audit_page" />;

  const raw = await searchParams;
  const query = parseAuditQuery(raw);
  // The form shows what was typed, even when it did not parse, so it can be corrected.
  const typed = (key: string) => {
    const value = raw[key];
    return (Array.isArray(value) ? value[0] : value) ?? "";
  };
  const values = query.ok ? query.values : {};
  const page = query.ok ? query.page : 1;
  const pageSize = AUDIT_PAGE_SIZE;
  const cursor = query.ok ? query.cursor : {};
  const keyset = cursor.before !== undefined || cursor.after !== undefined;
  // The chain is not walked here: the storage service verifies it on a schedule and stores a checkpoint.
  const [checkpoint, tail, users, cohorts, result] = await Promise.all([
    latestAuditCheckpoint(db()),
    auditTail(db()),
    listUsers(db()),
    listCohorts(db()),
    query.ok
      ? searchAudit(db(), {
          ...query.filters,
          ...cursor,
          limit: pageSize,
          offset: keyset ? 0 : (page - 1) * pageSize,
        })
      : Promise.resolve({ rows: [], total: 0, totalExact: true, hasOlder: false, hasNewer: false }),
  ]);
  const filters = filterParams(values);
  const exportQuery = new URLSearchParams(filters).toString();
  const groups = groupClasses(result.rows);

  return (
    <>
      <h1>PHI file tracking</h1>
      <ChainStatus checkpoint={checkpoint} tailId={tail?.id ?? null} />

      <section className="card">
        <h2>Filters</h2>
        <form method="get" action="/audit" data-testid="audit-filters">
          <div className={styles.filters}>
            <div>
              <label htmlFor="f-file">File id</label>
              <input id="f-file" name="fileId" defaultValue={typed("fileId")} placeholder="uuid" />
            </div>
            <div>
              <label htmlFor="f-cohort">Cohort</label>
              <select id="f-cohort" name="cohortId" defaultValue={typed("cohortId")}>
                <option value="">Any cohort</option>
                {cohorts.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
            </div>
            <div>
              <label htmlFor="f-user">User</label>
              <select id="f-user" name="userId" defaultValue={typed("userId")}>
                <option value="">Anyone</option>
                {users.map((u) => (
                  <option key={u.id} value={u.id}>
                    {u.email}
                  </option>
                ))}
              </select>
            </div>
            <div>
              <label htmlFor="f-action">Action</label>
              <input id="f-action" name="action" list="audit-actions" defaultValue={typed("action")} />
              <datalist id="audit-actions">
                {KNOWN_ACTIONS.map((a) => (
                  <option key={a} value={a} />
                ))}
              </datalist>
            </div>
            <div>
              <label htmlFor="f-outcome">Outcome</label>
              <select id="f-outcome" name="outcome" defaultValue={typed("outcome")}>
                <option value="">Any outcome</option>
                <option value="success">success</option>
                <option value="failure">failure</option>
                <option value="denied">denied</option>
              </select>
            </div>
            <div>
              <label htmlFor="f-from">From (UTC)</label>
              <input id="f-from" name="from" type="date" defaultValue={typed("from").slice(0, 10)} />
            </div>
            <div>
              <label htmlFor="f-to">To (UTC, inclusive)</label>
              <input id="f-to" name="to" type="date" defaultValue={typed("to").slice(0, 10)} />
            </div>
            <div>
              <label htmlFor="f-request">Request id</label>
              <input id="f-request" name="requestId" defaultValue={typed("requestId")} />
            </div>
          </div>
          <div className={styles.actions}>
            <button type="submit">Apply filters</button>
            <a href="/audit">Clear</a>
            <a href={`/api/audit/export${exportQuery ? `?${exportQuery}` : ""}`} data-testid="audit-export" download>
              Export CSV
            </a>
            <span className="muted">Export includes every matching row, oldest first; the export is audited.</span>
          </div>
        </form>
        {!query.ok && (
          <p className="error" role="alert" data-testid="audit-filter-error">
            {query.message}
          </p>
        )}
      </section>

      <section className="card">
        <h2>
          {result.total.toLocaleString("en-US")}
          {result.totalExact ? "" : "+"} {result.total === 1 && result.totalExact ? "row" : "rows"}
          {Object.keys(filters).length > 0 && " matching"}
        </h2>
        <table className={styles.table} data-testid="audit-table">
          <thead>
            <tr>
              <th>Id</th>
              <th>When</th>
              <th>Tier</th>
              <th>Action</th>
              <th>Outcome</th>
              <th>Actor</th>
              <th>Cohort</th>
              <th>File</th>
              <th>Bytes</th>
              <th>Request</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {result.rows.map((r, i) => (
              <tr
                key={r.id.toString()}
                className={groups[i]}
                data-testid="audit-row"
                data-request-id={r.requestId ?? ""}
              >
                <td>{r.id.toString()}</td>
                <td>{formatTime(r.occurredAt)}</td>
                <td>
                  <span className={`${styles.tier} ${tierClass[r.serverRole]}`}>{r.serverRole}</span>
                </td>
                <td>{r.action}</td>
                <td className={styles[`outcome-${r.outcome}`]}>{r.outcome}</td>
                <td>
                  {r.actorUserId ? (
                    <a href={href({ ...filters, userId: r.actorUserId })}>{r.actorEmail ?? r.actorUserId}</a>
                  ) : (
                    <span className="muted">—</span>
                  )}
                  {r.actorIp && <div className="muted">{r.actorIp}</div>}
                </td>
                <td>
                  {r.cohortId ? (
                    <a href={href({ ...filters, cohortId: r.cohortId })}>{r.cohortName ?? r.cohortId}</a>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td>
                  {r.fileId ? (
                    <a href={href({ ...filters, fileId: r.fileId })} title={r.fileId}>
                      <code>{r.fileId.slice(0, 8)}…</code>
                    </a>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td>{r.bytes ?? ""}</td>
                <td>
                  {r.requestId ? (
                    <a href={href({ requestId: r.requestId })} title={r.requestId}>
                      <code>{r.requestId.slice(0, 8)}</code>
                    </a>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td className={styles.detail}>
                  {r.error && <div className="status-bad">{r.error}</div>}
                  {r.storageKey && (
                    <div>
                      <code>
                        {r.disk}:{r.storageKey}
                      </code>
                    </div>
                  )}
                  {Object.keys(r.metadata).length > 0 && <code>{JSON.stringify(r.metadata)}</code>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {result.rows.length === 0 && <p className="muted">No rows match these filters.</p>}
        <nav className={styles.pager} aria-label="Pages" data-testid="audit-pager">
          {result.hasNewer && result.rows[0] ? (
            <a href={href({ ...filters, after: result.rows[0].id.toString() })}>← Newer</a>
          ) : (
            <span />
          )}
          <span>
            {result.rows.length > 0
              ? `Rows ${result.rows[0]?.id} to ${result.rows.at(-1)?.id}`
              : keyset || page > 1
                ? "No rows here"
                : ""}
          </span>
          {result.hasOlder && result.rows.length > 0 ? (
            <a href={href({ ...filters, before: String(result.rows.at(-1)?.id) })}>Older →</a>
          ) : (
            <span />
          )}
        </nav>
      </section>
    </>
  );
}

const ageOf = (at: Date, now = Date.now()) => {
  const minutes = Math.max(0, Math.round((now - at.getTime()) / 60_000));
  if (minutes < 1) return "less than a minute ago";
  if (minutes < 120) return `${minutes} minute${minutes === 1 ? "" : "s"} ago`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} hours ago` : `${Math.round(hours / 24)} days ago`;
};

/** The last scheduled verification: its result, its age and how far it reached; the page walks nothing itself. */
function ChainStatus({ checkpoint, tailId }: { checkpoint: AuditCheckpoint | null; tailId: bigint | null }) {
  if (!checkpoint) {
    return (
      <section className="card" data-testid="chain-status">
        <p className="muted">
          The hash chain has not been verified yet: the storage service verifies it on its schedule (
          <code>AUDIT_VERIFY_INTERVAL_MINUTES</code>), or run <code>pnpm audit:verify --since-checkpoint</code>.
        </p>
      </section>
    );
  }
  const key = checkpointKeyFromEnv();
  const trusted = key ? checkpointTrusted(key, checkpoint) : false;
  const pending = tailId !== null && tailId > checkpoint.lastId ? tailId - checkpoint.lastId : 0n;
  const when = `${ageOf(checkpoint.verifiedAt)} (${formatTime(checkpoint.verifiedAt)})`;
  return (
    <section className="card" data-testid="chain-status">
      {!trusted ? (
        <p className="status-bad">
          The newest verification record (checkpoint {checkpoint.id.toString()}) does not carry a valid signature: it
          was not written by a Depot service. Run <code>pnpm audit:verify</code>.
        </p>
      ) : checkpoint.ok ? (
        <p className="status-ok">
          Verified {when}: the hash chain is unbroken up to row {checkpoint.lastId.toString()}.
        </p>
      ) : (
        <p className="status-bad">
          Verification {when} failed at row {checkpoint.firstBadId?.toString()} ({checkpoint.problem}):{" "}
          {checkpoint.message}
        </p>
      )}
      <p className="muted" data-testid="chain-pending">
        {pending > 0n
          ? `Rows after ${checkpoint.lastId} (up to ${tailId}) were appended since and are checked by the next run.`
          : "No rows were appended since."}
      </p>
      {trusted && checkpoint.ok && checkpoint.lastId > 0n && (
        <p className="muted">
          Anchor of the newest verified row, to keep outside the database (<code>pnpm audit:verify --anchor</code>{" "}
          proves later that it is still there):{" "}
          <code data-testid="chain-anchor">
            {formatAnchor({ id: checkpoint.lastId, rowHash: checkpoint.lastHash })}
          </code>
        </p>
      )}
    </section>
  );
}
