"use client";

import Uppy from "@uppy/core";
import Dashboard from "@uppy/react/dashboard";
import Tus, { type TusBody } from "@uppy/tus";
import { useEffect, useMemo, useRef, useState } from "react";
import { noteActivity } from "@/components/session-keep-alive";
import { formatBytes, formatTime } from "@/lib/format";
import "@uppy/core/css/style.min.css";
import "@uppy/dashboard/css/style.min.css";
import { CopyButton } from "@/components/copy-button";
import { batchStorage, TUS_CHUNK_SIZE, TUS_CONCURRENCY, TUS_RETRY_DELAYS } from "./batch-storage";

type Kind = "submission" | "precheck";
type DepotMeta = { cohortId: string; kind: string; name: string; type: string };
type DepotUppy = Uppy<DepotMeta, TusBody>;

export interface Unfinished {
  fileId: string;
  name: string;
  cohortId: string;
  cohortName: string;
  kind: string;
  offset: number;
  length: number;
  updatedAt: string;
}

interface Props {
  cohorts: { id: string; name: string }[];
  maxUploadBytes: number;
  allowedExtensions: string[];
  precheckRetentionHours: number;
  unfinished: Unfinished[];
}

interface Stored {
  id: string;
  name: string;
  cohortName: string | null;
  kind: string;
  size: number;
  sha256: string;
  expiresAt: string | null;
  warnings: {
    empty: boolean;
    contentMismatch: { detected: string; extension?: string } | null;
    duplicates: { id: string; name: string; createdAt: string }[];
  };
}

const KIND_WORDS: Record<Kind, string> = {
  submission: "a submission (kept)",
  precheck: "a precheck (checked, then removed)",
};

const serverMessage = (xhr: XMLHttpRequest | undefined) => {
  try {
    return (JSON.parse(xhr?.responseText ?? "") as { error?: { message?: string } }).error?.message;
  } catch {
    return undefined;
  }
};

const inProgress = (uppy: DepotUppy) =>
  uppy.getFiles().some((f) => f.progress.uploadStarted && !f.progress.uploadComplete && !f.error);

export function Uploader({ cohorts, maxUploadBytes, allowedExtensions, precheckRetentionHours, unfinished }: Props) {
  const [cohortId, setCohortId] = useState(cohorts.length === 1 ? (cohorts[0]?.id ?? "") : "");
  const [kind, setKind] = useState<Kind | "">("");
  const [confirmed, setConfirmed] = useState(false);
  const [uppy, setUppy] = useState<DepotUppy | null>(null);
  const [waiting, setWaiting] = useState<{ count: number; bytes: number }>({ count: 0, bytes: 0 });
  const [busy, setBusy] = useState(false);
  const [online, setOnline] = useState(true);
  const [refused, setRefused] = useState<{ key: string; name: string; reason: string }[]>([]);
  const [stored, setStored] = useState<Stored[]>([]);
  const batch = useRef<{ cohortId: string; kind: string; confirmed: boolean }>({ cohortId, kind, confirmed });
  batch.current = { cohortId, kind, confirmed };
  const cohortName = cohorts.find((c) => c.id === cohortId)?.name ?? "";
  const accept = useMemo(() => allowedExtensions.map((e) => `.${e}`), [allowedExtensions]);

  useEffect(() => {
    const instance: DepotUppy = new Uppy<DepotMeta, TusBody>({
      autoProceed: false,
      restrictions: { maxFileSize: maxUploadBytes, minFileSize: 1, allowedFileTypes: accept },
      locale: {
        strings: {
          inferiorSize: "This file is empty (0 bytes); an empty file is not uploaded",
          noInternetConnection: "Offline: uploads continue by themselves when the connection returns",
        },
        pluralize: (n: number) => (n === 1 ? 0 : 1),
      },
      // Nothing leaves until the person has confirmed cohort and kind; the confirmed pair is written on every file.
      onBeforeUpload: (files) => {
        const { cohortId: c, kind: k, confirmed: ok } = batch.current;
        if (!ok || !c || !k) return false;
        return Object.fromEntries(
          Object.entries(files).map(([id, f]) => [id, { ...f, meta: { ...f.meta, cohortId: c, kind: k } }]),
        );
      },
    });
    instance.use(Tus, {
      endpoint: "/api/uploads/tus/",
      chunkSize: TUS_CHUNK_SIZE,
      limit: TUS_CONCURRENCY,
      retryDelays: TUS_RETRY_DELAYS,
      removeFingerprintOnSuccess: true,
      allowedMetaFields: ["cohortId", "kind", "name", "type"],
      // Only the upload URL and its metadata are remembered (localStorage), never file bytes; a stored URL is
      // reused only for the same cohort and kind.
      urlStorage: batchStorage(() => batch.current),
    });
    const refreshWaiting = () => {
      const files = instance.getFiles().filter((f) => !f.progress.uploadStarted);
      setWaiting({ count: files.length, bytes: files.reduce((n, f) => n + (f.size ?? 0), 0) });
      setBusy(inProgress(instance));
    };
    instance.on("files-added", () => {
      setConfirmed(false);
      refreshWaiting();
    });
    instance.on("file-removed", refreshWaiting);
    instance.on("upload-start", refreshWaiting);
    instance.on("complete", refreshWaiting);
    instance.on("upload-progress", () => noteActivity());
    instance.on("restriction-failed", (file, error) => {
      const name = file?.name ?? "a file";
      setRefused((all) => [...all, { key: `${name}-${all.length}`, name, reason: error.message }]);
    });
    instance.on("upload-error", (file, _error, response) => {
      refreshWaiting();
      const xhr = (response?.body as { xhr?: XMLHttpRequest } | undefined)?.xhr;
      const message = serverMessage(xhr);
      if (file && message) instance.setFileState(file.id, { error: message });
    });
    instance.on("upload-success", async (file, response) => {
      refreshWaiting();
      const xhr = (response.body as { xhr?: XMLHttpRequest } | undefined)?.xhr;
      const id = xhr?.getResponseHeader("x-depot-file-id");
      if (!file || !id) return;
      const res = await fetch(`/api/files/${id}`);
      if (res.ok) {
        const details = (await res.json()) as Stored;
        setStored((all) => [details, ...all.filter((s) => s.id !== details.id)]);
      }
    });
    setUppy(instance);
    return () => instance.destroy();
  }, [accept, maxUploadBytes]);

  // Offline: tus-js-client stops retrying while navigator.onLine is false; back online, everything that failed
  // meanwhile is retried without a click (uploads resume from the server's offset).
  useEffect(() => {
    setOnline(navigator.onLine);
    const goOffline = () => setOnline(false);
    const goOnline = () => {
      setOnline(true);
      if (uppy?.getFiles().some((f) => f.error)) void uppy.retryAll();
    };
    window.addEventListener("offline", goOffline);
    window.addEventListener("online", goOnline);
    return () => {
      window.removeEventListener("offline", goOffline);
      window.removeEventListener("online", goOnline);
    };
  }, [uppy]);

  // Leaving the page abandons the running uploads: ask first.
  useEffect(() => {
    const guard = (event: BeforeUnloadEvent) => {
      if (!uppy || !inProgress(uppy)) return;
      event.preventDefault();
      event.returnValue = "";
    };
    window.addEventListener("beforeunload", guard);
    return () => window.removeEventListener("beforeunload", guard);
  }, [uppy]);

  const ready = Boolean(cohortId && kind && confirmed && waiting.count > 0);

  return (
    <>
      {!online && (
        <div className="banner banner-warn" role="status" data-testid="offline-banner">
          You are offline. Uploads wait and continue by themselves when the connection returns; keep this page open.
        </div>
      )}
      {unfinished.length > 0 && (
        <section className="card" data-testid="unfinished-uploads">
          <h2>Unfinished uploads</h2>
          <p className="muted">
            Choose the same file again, for the same cohort and kind, to resume where it stopped. Depot keeps no copy of
            your files in this browser.
          </p>
          <div className="table-scroll">
            <table className="reflow">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Cohort · kind</th>
                  <th>Received</th>
                  <th>Last activity</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {unfinished.map((u) => (
                  <tr key={u.fileId} data-testid="unfinished-row">
                    <td className="name-cell">
                      <span className="long-name" title={u.name}>
                        {u.name}
                      </span>
                    </td>
                    <td data-label="Cohort · kind">
                      {u.cohortName} · {u.kind}
                    </td>
                    <td data-label="Received">
                      {formatBytes(u.offset)} of {formatBytes(u.length)}
                    </td>
                    <td data-label="Last activity">{formatTime(u.updatedAt)}</td>
                    <td>
                      {cohorts.some((c) => c.id === u.cohortId) && (
                        <button
                          type="button"
                          className="secondary"
                          disabled={busy}
                          onClick={() => {
                            setCohortId(u.cohortId);
                            setKind(u.kind as Kind);
                            setConfirmed(false);
                          }}
                        >
                          Use its cohort and kind
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
      <section className="card" data-testid="uploader" data-ready={uppy !== null}>
        <div className="batch-fields">
          <div>
            <label htmlFor="cohort">Cohort</label>
            <select
              id="cohort"
              value={cohortId}
              disabled={busy}
              onChange={(e) => {
                setCohortId(e.target.value);
                setConfirmed(false);
              }}
            >
              {cohorts.length > 1 && <option value="">Choose a cohort…</option>}
              {cohorts.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </div>
          <fieldset className="kind-choice" disabled={busy}>
            <legend>Kind</legend>
            <label>
              <input
                type="radio"
                name="kind"
                value="submission"
                checked={kind === "submission"}
                onChange={() => {
                  setKind("submission");
                  setConfirmed(false);
                }}
              />{" "}
              Submission: the cohort's data, kept
            </label>
            <label>
              <input
                type="radio"
                name="kind"
                value="precheck"
                checked={kind === "precheck"}
                onChange={() => {
                  setKind("precheck");
                  setConfirmed(false);
                }}
              />{" "}
              Precheck: checked, kept {precheckRetentionHours} hours, then removed
            </label>
          </fieldset>
        </div>
        <p className="muted" data-testid="restrictions">
          Accepted: {accept.join(", ")} · from 1 byte up to {formatBytes(maxUploadBytes)} each · sent in resumable{" "}
          {formatBytes(TUS_CHUNK_SIZE)} chunks, {TUS_CONCURRENCY} files at a time.
        </p>
        {uppy ? (
          <Dashboard
            uppy={uppy}
            width="100%"
            height={340}
            hideUploadButton
            proudlyDisplayPoweredByUppy={false}
            disableThumbnailGenerator
            showRemoveButtonAfterComplete
            fileManagerSelectionType="files"
            note={`${accept.join(", ")} · up to ${formatBytes(maxUploadBytes)}`}
            doneButtonHandler={() => {
              uppy.clear();
              setWaiting({ count: 0, bytes: 0 });
            }}
          />
        ) : (
          <p className="muted">Loading the uploader…</p>
        )}
        {refused.length > 0 && (
          <ul className="warnings" data-testid="refused-files">
            {refused.map((r) => (
              <li key={r.key}>
                <strong className="long-name">{r.name}</strong>: {r.reason}
              </li>
            ))}
          </ul>
        )}
        {waiting.count > 0 && (
          <div className="confirm-batch" data-testid="confirm-batch">
            {cohortId && kind ? (
              <>
                <label className="inline">
                  <input
                    type="checkbox"
                    checked={confirmed}
                    data-testid="confirm-checkbox"
                    onChange={(e) => setConfirmed(e.target.checked)}
                  />{" "}
                  <span data-testid="confirm-text">
                    Send {waiting.count} file{waiting.count === 1 ? "" : "s"} ({formatBytes(waiting.bytes)}) to{" "}
                    <strong>{cohortName}</strong> as <strong>{KIND_WORDS[kind]}</strong>.
                  </span>
                </label>
                <button
                  type="button"
                  data-testid="start-upload"
                  disabled={!ready}
                  onClick={() => {
                    uppy?.setMeta({ cohortId, kind });
                    void uppy?.upload();
                  }}
                >
                  Upload {waiting.count} file{waiting.count === 1 ? "" : "s"} to {cohortName}
                </button>
              </>
            ) : (
              <p className="status-bad" data-testid="confirm-missing">
                Choose {cohortId ? "" : "the cohort"}
                {!cohortId && !kind ? " and " : ""}
                {kind ? "" : "the kind"} for these files before uploading.
              </p>
            )}
          </div>
        )}
      </section>
      {stored.length > 0 && (
        <section className="card" data-testid="stored-files">
          <h2>Stored</h2>
          <div className="table-scroll">
            <table className="reflow" data-testid="upload-list">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Cohort · kind</th>
                  <th>Size</th>
                  <th>sha256</th>
                </tr>
              </thead>
              <tbody>
                {stored.map((s) => (
                  <tr key={s.id} data-testid="stored-row" data-file-id={s.id}>
                    <td className="name-cell">
                      <a
                        className="long-name"
                        href={`/api/files/${s.id}/download`}
                        title={s.name}
                        data-testid="stored-name"
                      >
                        {s.name}
                      </a>
                      <Warnings file={s} />
                    </td>
                    <td data-label="Cohort · kind">
                      {s.cohortName} · {s.kind}
                      {s.expiresAt && <div className="muted">removed after {formatTime(s.expiresAt)}</div>}
                    </td>
                    <td data-label="Size">{formatBytes(s.size)}</td>
                    <td data-label="sha256">
                      <code className="sha" data-testid="stored-sha256" data-copy={s.sha256}>
                        {s.sha256}
                      </code>{" "}
                      <CopyButton text={s.sha256} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </>
  );
}

function Warnings({ file }: { file: Stored }) {
  const { empty, contentMismatch, duplicates } = file.warnings;
  if (!empty && !contentMismatch && duplicates.length === 0) return null;
  return (
    <ul className="warnings" data-testid="stored-warnings">
      {empty && <li>The file is empty (0 bytes).</li>}
      {contentMismatch && (
        <li data-testid="warning-mismatch">
          The content looks like {contentMismatch.detected}, not .{contentMismatch.extension} as its name says.
        </li>
      )}
      {duplicates.length > 0 && (
        <li data-testid="warning-duplicate">
          The same content (sha256) is already in this cohort as{" "}
          {duplicates.map((d, i) => (
            <span key={d.id}>
              {i > 0 && ", "}
              <a href={`/api/files/${d.id}/download`} title={d.name}>
                {d.name}
              </a>{" "}
              ({formatTime(d.createdAt)})
            </span>
          ))}
          .
        </li>
      )}
    </ul>
  );
}
