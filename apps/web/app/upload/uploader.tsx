"use client";

import { type DragEvent, useEffect, useRef, useState } from "react";
import { noteActivity } from "@/components/session-keep-alive";
import { formatBytes } from "@/lib/format";
import { sendResumable, sendSmall, type Transfer } from "./transfer";

interface Props {
  cohorts: { id: string; name: string }[];
  smallUploadMaxBytes: number;
  maxUploadBytes: number;
  allowedExtensions: string[];
}

type Status = "uploading" | "paused" | "done" | "failed" | "cancelled";

interface Item {
  key: string;
  name: string;
  size: number;
  sent: number;
  status: Status;
  startedAt: number;
  bytesPerSecond: number;
  result?: { id: string; sha256: string };
  error?: string;
}

const formatSeconds = (s: number) =>
  !Number.isFinite(s) ? "–" : s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;

export function Uploader({ cohorts, smallUploadMaxBytes, maxUploadBytes, allowedExtensions }: Props) {
  const [cohortId, setCohortId] = useState(cohorts[0]?.id ?? "");
  const [kind, setKind] = useState("submission");
  const [items, setItems] = useState<Item[]>([]);
  const [dragging, setDragging] = useState(false);
  const transfers = useRef(new Map<string, Transfer>());
  // Files chosen before React attached its handlers would be ignored; tests and people wait for this.
  const [ready, setReady] = useState(false);
  useEffect(() => setReady(true), []);

  const update = (key: string, patch: Partial<Item>) =>
    setItems((all) => all.map((item) => (item.key === key ? { ...item, ...patch } : item)));

  function start(files: FileList | File[]) {
    for (const file of Array.from(files)) {
      const key = `${file.name}-${file.size}-${file.lastModified}-${Math.random().toString(36).slice(2)}`;
      const extension = file.name.includes(".") ? (file.name.split(".").pop() ?? "").toLowerCase() : "";
      const item: Item = {
        key,
        name: file.name,
        size: file.size,
        sent: 0,
        status: "uploading",
        startedAt: Date.now(),
        bytesPerSecond: 0,
      };
      if (!allowedExtensions.includes(extension)) {
        setItems((all) => [
          ...all,
          {
            ...item,
            status: "failed",
            error: `not accepted; allowed: ${allowedExtensions.map((e) => `.${e}`).join(", ")}`,
          },
        ]);
        continue;
      }
      if (file.size > maxUploadBytes) {
        setItems((all) => [
          ...all,
          { ...item, status: "failed", error: `larger than the limit of ${formatBytes(maxUploadBytes)}` },
        ]);
        continue;
      }
      setItems((all) => [...all, item]);
      let firstSent = 0;
      let firstAt = 0;
      const send = file.size <= smallUploadMaxBytes ? sendSmall : sendResumable;
      const transfer = send(file, cohortId, kind, {
        onProgress: (sent) => {
          noteActivity();
          const now = Date.now();
          if (!firstAt) {
            firstAt = now;
            firstSent = sent;
          }
          const seconds = (now - firstAt) / 1000;
          update(key, { sent, bytesPerSecond: seconds > 0.2 ? (sent - firstSent) / seconds : 0 });
        },
        onDone: (result) => {
          transfers.current.delete(key);
          update(key, { status: "done", sent: file.size, result });
        },
        onError: (message) => update(key, { status: "failed", error: message }),
      });
      transfers.current.set(key, transfer);
    }
  }

  function onDrop(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    if (event.dataTransfer.files.length) start(event.dataTransfer.files);
  }

  return (
    <>
      <section className="card" data-testid="uploader" data-ready={ready}>
        <label htmlFor="cohort">Cohort</label>
        <select id="cohort" value={cohortId} onChange={(e) => setCohortId(e.target.value)}>
          {cohorts.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
        <fieldset style={{ border: 0, padding: 0, margin: "0.75rem 0" }}>
          <legend style={{ fontWeight: 600 }}>Kind</legend>
          <label style={{ display: "inline", fontWeight: 400, marginRight: "1rem" }}>
            <input
              type="radio"
              name="kind"
              value="submission"
              checked={kind === "submission"}
              onChange={() => setKind("submission")}
              style={{ width: "auto" }}
            />{" "}
            Submission (kept)
          </label>
          <label style={{ display: "inline", fontWeight: 400 }}>
            <input
              type="radio"
              name="kind"
              value="precheck"
              checked={kind === "precheck"}
              onChange={() => setKind("precheck")}
              style={{ width: "auto" }}
            />{" "}
            Precheck (temporary, expires)
          </label>
        </fieldset>
        <section
          aria-label="Drop files to upload"
          className={`dropzone${dragging ? " dragging" : ""}`}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
          data-testid="dropzone"
        >
          <p>Drop files here, or choose them:</p>
          <input
            type="file"
            multiple
            aria-label="Choose files"
            data-testid="file-input"
            onChange={(e) => {
              if (e.target.files?.length) start(e.target.files);
              e.target.value = "";
            }}
          />
          <p className="muted">
            Accepted: {allowedExtensions.map((e) => `.${e}`).join(", ")} · up to {formatBytes(maxUploadBytes)}. Files
            over {formatBytes(smallUploadMaxBytes)} upload in resumable 8 MiB chunks.
          </p>
        </section>
      </section>
      {items.length > 0 && (
        <section className="card">
          <h2>Files</h2>
          <table data-testid="upload-list">
            <thead>
              <tr>
                <th>Name</th>
                <th>Progress</th>
                <th>Speed · time left</th>
                <th>Result</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {items.map((item, index) => {
                const transfer = transfers.current.get(item.key);
                const left =
                  item.bytesPerSecond > 0 ? (item.size - item.sent) / item.bytesPerSecond : Number.POSITIVE_INFINITY;
                return (
                  <tr key={item.key} data-testid={`upload-row-${index}`} data-status={item.status}>
                    <td>
                      {item.name}
                      <div className="muted">{formatBytes(item.size)}</div>
                    </td>
                    <td style={{ minWidth: 160 }}>
                      <progress
                        max={item.size || 1}
                        value={item.sent}
                        data-testid={`upload-progress-${index}`}
                        style={{ width: "100%" }}
                      />
                      <div className="muted">{item.size ? Math.floor((item.sent / item.size) * 100) : 100}%</div>
                    </td>
                    <td className="muted">
                      {item.status === "uploading"
                        ? `${formatBytes(item.bytesPerSecond)}/s · ${formatSeconds(left)}`
                        : ""}
                    </td>
                    <td>
                      {item.status === "done" && item.result && (
                        <span className="status-ok">
                          Stored · sha256 <code data-testid={`upload-sha256-${index}`}>{item.result.sha256}</code>
                        </span>
                      )}
                      {item.status === "failed" && (
                        <span className="status-bad" data-testid={`upload-error-${index}`}>
                          {item.error}
                        </span>
                      )}
                      {item.status === "cancelled" && <span className="muted">Cancelled</span>}
                      {item.status === "paused" && <span className="muted">Paused</span>}
                    </td>
                    <td>
                      {transfer?.resumable && item.status === "uploading" && (
                        <button
                          type="button"
                          className="secondary"
                          onClick={() => {
                            transfer.pause();
                            update(item.key, { status: "paused" });
                          }}
                        >
                          Pause
                        </button>
                      )}
                      {transfer?.resumable && item.status === "paused" && (
                        <button
                          type="button"
                          className="secondary"
                          onClick={() => {
                            transfer.resume();
                            update(item.key, { status: "uploading" });
                          }}
                        >
                          Resume
                        </button>
                      )}{" "}
                      {transfer && (item.status === "uploading" || item.status === "paused") && (
                        <button
                          type="button"
                          className="secondary"
                          onClick={() => {
                            transfer.cancel();
                            transfers.current.delete(item.key);
                            update(item.key, { status: "cancelled" });
                          }}
                        >
                          Cancel
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      )}
    </>
  );
}
