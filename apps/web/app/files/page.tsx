import { listFiles, uploadersIn } from "@depot/db";
import { redirect } from "next/navigation";
import { CopyButton } from "@/components/copy-button";
import { db } from "@/lib/db";
import { formatBytes, formatTime } from "@/lib/format";
import { isAdministrator, visibleCohorts } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import { CancelUploadButton, DeleteFileButton } from "./delete-button";
import { readFileFilters } from "./filters";

export const dynamic = "force-dynamic";

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

const STATUS_WORDS: Record<string, string> = {
  stored: "stored",
  uploading: "unfinished",
  failed: "failed",
  deleted: "deleted",
  all: "",
};

export default async function FilesPage({ searchParams }: { searchParams: SearchParams }) {
  const user = await currentUser();
  if (!user) redirect("/login?callbackUrl=/files");
  const raw = Object.fromEntries(
    Object.entries(await searchParams).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]),
  ) as Record<string, string | undefined>;
  const { query, errors, status } = readFileFilters(raw);
  const admin = isAdministrator(user);
  const cohorts = await visibleCohorts(user);
  const cohortIds = admin ? null : cohorts.map((c) => c.id);
  const [{ rows, total, totalExact }, uploaders] = await Promise.all([
    listFiles(db(), { ...query.filters, cohortIds }),
    uploadersIn(db(), cohortIds),
  ]);
  const deletable = new Set(cohorts.filter((c) => c.may.delete).map((c) => c.id));
  const v = query.values;
  // The count stops at 10,000 (or just past this page): beyond it there is at least one more page.
  const pages = Math.max(1, Math.ceil(total / query.pageSize)) + (totalExact ? 0 : 1);
  const kept = Object.fromEntries(
    Object.entries({
      ...raw,
      status,
      from: v.from ? raw.from : undefined,
      to: v.to ? raw.to : undefined,
      uploaderId: v.uploaderId,
      cohortId: v.cohortId,
      kind: v.kind,
    }).filter(([, x]) => x),
  ) as Record<string, string>;
  const pageLink = (page: number) => `/files?${new URLSearchParams({ ...kept, page: String(page) })}`;
  const words = STATUS_WORDS[status] ?? status;

  return (
    <>
      <h1>Files</h1>
      <form className="card filters" method="get" data-testid="file-filters">
        <div>
          <label htmlFor="f-cohort">Cohort</label>
          <select id="f-cohort" name="cohortId" defaultValue={v.cohortId ?? ""}>
            <option value="">All</option>
            {cohorts.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="f-kind">Kind</label>
          <select id="f-kind" name="kind" defaultValue={v.kind ?? ""}>
            <option value="">All</option>
            <option value="submission">Submission</option>
            <option value="precheck">Precheck</option>
          </select>
        </div>
        <div>
          <label htmlFor="f-status">Status</label>
          <select id="f-status" name="status" defaultValue={status}>
            <option value="stored">Stored</option>
            <option value="uploading">Unfinished uploads</option>
            <option value="failed">Failed</option>
            <option value="deleted">Deleted</option>
            <option value="all">All but deleted</option>
          </select>
        </div>
        <div>
          <label htmlFor="f-uploader">Uploader</label>
          <select id="f-uploader" name="uploaderId" defaultValue={v.uploaderId ?? ""}>
            <option value="">Anyone</option>
            {uploaders.map((u) => (
              <option key={u.id} value={u.id}>
                {u.name} ({u.email})
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="f-from">From (UTC)</label>
          <input id="f-from" name="from" type="date" defaultValue={v.from ? (raw.from ?? "") : ""} />
        </div>
        <div>
          <label htmlFor="f-to">To (UTC)</label>
          <input id="f-to" name="to" type="date" defaultValue={v.to ? (raw.to ?? "") : ""} />
        </div>
        <div>
          <label htmlFor="f-sort">Sort</label>
          <select id="f-sort" name="sort" defaultValue={v.sort}>
            <option value="created">Date</option>
            <option value="name">Name</option>
            <option value="size">Size</option>
          </select>
        </div>
        <div>
          <label htmlFor="f-order">Order</label>
          <select id="f-order" name="order" defaultValue={v.order}>
            <option value="desc">Descending</option>
            <option value="asc">Ascending</option>
          </select>
        </div>
        <div>
          <button type="submit">Filter</button>
        </div>
      </form>
      {errors.length > 0 && (
        <div className="error" role="alert" data-testid="filter-errors">
          <ul className="error-list">
            {errors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        </div>
      )}
      <section className="card">
        <p className="muted" data-testid="file-count">
          {total.toLocaleString("en-US")}
          {totalExact ? "" : "+"} {words ? `${words} ` : ""}file{total === 1 && totalExact ? "" : "s"}
          {status === "stored" && (
            <>
              {" "}
              · failed and unfinished uploads are under <a href="/files?status=failed">Failed</a> and{" "}
              <a href="/files?status=uploading">Unfinished uploads</a>
            </>
          )}
        </p>
        <table className="reflow" data-testid="file-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Cohort · kind</th>
              <th>Status</th>
              <th>Size</th>
              <th>Uploaded</th>
              <th>sha256</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map(({ file, cohortName, uploaderEmail }) => (
              <tr key={file.id} data-testid="file-row" data-file-id={file.id}>
                <td className="name-cell">
                  {file.status === "stored" ? (
                    <a className="long-name" href={`/api/files/${file.id}/download`} title={file.originalName}>
                      {file.originalName}
                    </a>
                  ) : (
                    <span className="long-name" title={file.originalName}>
                      {file.originalName}
                    </span>
                  )}
                </td>
                <td data-label="Cohort · kind">
                  {cohortName} · {file.kind}
                  {file.kind === "precheck" && file.expiresAt && (
                    <div className="muted" data-testid="file-expires">
                      removed after {formatTime(file.expiresAt)}
                    </div>
                  )}
                </td>
                <td data-label="Status">{STATUS_WORDS[file.status] ?? file.status}</td>
                <td data-label="Size">{file.size === null ? "–" : formatBytes(file.size)}</td>
                <td data-label="Uploaded">
                  {formatTime(file.createdAt)}
                  <div className="muted">{uploaderEmail ?? "–"}</div>
                </td>
                <td data-label="sha256">
                  {file.sha256 ? (
                    <>
                      <code className="sha" data-testid="file-sha256" data-copy={file.sha256}>
                        {file.sha256}
                      </code>
                      <CopyButton text={file.sha256} />
                    </>
                  ) : (
                    "–"
                  )}
                </td>
                <td>
                  {file.status === "stored" && <a href={`/api/files/${file.id}/download`}>Download</a>}{" "}
                  {(file.status === "stored" || file.status === "failed") && deletable.has(file.cohortId) && (
                    <DeleteFileButton id={file.id} name={file.originalName} />
                  )}
                  {file.status === "uploading" && file.uploadId && file.uploaderId === user.id && (
                    <CancelUploadButton uploadId={file.uploadId} name={file.originalName} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <div className="pager">
          {query.page > 1 && <a href={pageLink(query.page - 1)}>← Previous</a>}
          <span className="muted">
            Page {query.page} of {pages}
            {totalExact ? "" : "+"}
          </span>
          {query.page < pages && <a href={pageLink(query.page + 1)}>Next →</a>}
        </div>
      </section>
    </>
  );
}
