import { listFiles } from "@depot/db";
import { redirect } from "next/navigation";
import { db } from "@/lib/db";
import { parseFileQuery } from "@/lib/file-query";
import { formatBytes } from "@/lib/format";
import { isAdministrator, visibleCohorts } from "@/lib/permissions";
import { currentUser } from "@/lib/session";
import { DeleteFileButton } from "./delete-button";

export const dynamic = "force-dynamic";

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

export default async function FilesPage({ searchParams }: { searchParams: SearchParams }) {
  const user = await currentUser();
  if (!user) redirect("/login?callbackUrl=/files");
  const raw = Object.fromEntries(
    Object.entries(await searchParams).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]),
  ) as Record<string, string | undefined>;
  const query = parseFileQuery(raw) ?? parseFileQuery({});
  if (!query) throw new Error("default file query is invalid");
  const admin = isAdministrator(user);
  const cohorts = await visibleCohorts(user);
  const { rows, total, totalExact } = await listFiles(db(), {
    ...query.filters,
    cohortIds: admin ? null : cohorts.map((c) => c.id),
  });
  const deletable = new Set(cohorts.filter((c) => c.may.delete).map((c) => c.id));
  const v = query.values;
  // The count stops at 10,000 (or just past this page): beyond it there is at least one more page.
  const pages = Math.max(1, Math.ceil(total / query.pageSize)) + (totalExact ? 0 : 1);
  const pageLink = (page: number) =>
    `/files?${new URLSearchParams({ ...Object.fromEntries(Object.entries(raw).filter(([, x]) => x) as [string, string][]), page: String(page) })}`;

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
          <select id="f-status" name="status" defaultValue={v.status ?? ""}>
            <option value="">Not deleted</option>
            <option value="stored">Stored</option>
            <option value="uploading">Uploading</option>
            <option value="failed">Failed</option>
            <option value="deleted">Deleted</option>
          </select>
        </div>
        <div>
          <label htmlFor="f-uploader">Uploader id</label>
          <input id="f-uploader" name="uploaderId" defaultValue={v.uploaderId ?? ""} placeholder="user id" />
        </div>
        <div>
          <label htmlFor="f-from">From</label>
          <input id="f-from" name="from" type="date" defaultValue={raw.from ?? ""} />
        </div>
        <div>
          <label htmlFor="f-to">To</label>
          <input id="f-to" name="to" type="date" defaultValue={raw.to ?? ""} />
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
      <section className="card">
        <p className="muted">
          {total.toLocaleString("en-US")}
          {totalExact ? "" : "+"} file{total === 1 && totalExact ? "" : "s"}
        </p>
        <table data-testid="file-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Cohort</th>
              <th>Kind</th>
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
                <td>{file.originalName}</td>
                <td>{cohortName}</td>
                <td>{file.kind}</td>
                <td>{file.status}</td>
                <td>{file.size === null ? "–" : formatBytes(file.size)}</td>
                <td>
                  {file.createdAt.toISOString().slice(0, 16).replace("T", " ")}
                  <div className="muted">{uploaderEmail ?? "–"}</div>
                </td>
                <td>
                  <code title={file.sha256 ?? ""}>{file.sha256 ? `${file.sha256.slice(0, 12)}…` : "–"}</code>
                </td>
                <td>
                  {file.status === "stored" && <a href={`/api/files/${file.id}/download`}>Download</a>}{" "}
                  {file.status === "stored" && deletable.has(file.cohortId) && (
                    <DeleteFileButton id={file.id} name={file.originalName} />
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
