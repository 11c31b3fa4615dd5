import * as tus from "tus-js-client";

export const TUS_CHUNK_SIZE = 8 * 1024 * 1024;

export interface TransferEvents {
  onProgress(sent: number, total: number): void;
  onDone(result: { id: string; sha256: string; size: number }): void;
  onError(message: string): void;
}

export interface Transfer {
  pause(): void;
  resume(): void;
  cancel(): void;
  resumable: boolean;
}

const errorMessage = (body: string, fallback: string) => {
  try {
    return (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? fallback;
  } catch {
    return fallback;
  }
};

/** A small file: one multipart POST (fields first, then the file), with upload progress. */
export function sendSmall(file: File, cohortId: string, kind: string, events: TransferEvents): Transfer {
  const xhr = new XMLHttpRequest();
  const form = new FormData();
  form.append("cohortId", cohortId);
  form.append("kind", kind);
  form.append("file", file, file.name);
  xhr.upload.onprogress = (e) => events.onProgress(e.loaded, e.total || file.size);
  xhr.onload = () => {
    if (xhr.status === 201) {
      const body = JSON.parse(xhr.responseText) as { id: string; sha256: string; size: number };
      events.onProgress(file.size, file.size);
      events.onDone(body);
    } else {
      events.onError(errorMessage(xhr.responseText, `upload failed (HTTP ${xhr.status})`));
    }
  };
  xhr.onerror = () => events.onError("the connection to the server failed");
  xhr.open("POST", "/api/uploads");
  xhr.send(form);
  return {
    resumable: false,
    pause: () => {},
    resume: () => {},
    cancel: () => xhr.abort(),
  };
}

/**
 * A large file through tus with fixed 8 MiB chunks: retried after network drops, resumable after a
 * reload (the same file for the same cohort and kind picks up where it stopped).
 */
export function sendResumable(file: File, cohortId: string, kind: string, events: TransferEvents): Transfer {
  let fileId = "";
  let sha256 = "";
  const upload = new tus.Upload(file, {
    endpoint: "/api/uploads/tus/",
    chunkSize: TUS_CHUNK_SIZE,
    retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
    removeFingerprintOnSuccess: true,
    metadata: { cohortId, kind, filename: file.name, filetype: file.type || "application/octet-stream" },
    fingerprint: async (f) => ["depot", cohortId, kind, f.name, f.type, f.size, f.lastModified].join("|"),
    onProgress: (sent, total) => events.onProgress(sent, total),
    onAfterResponse: (_req, res) => {
      fileId = res.getHeader("x-depot-file-id") || fileId;
      sha256 = res.getHeader("x-depot-sha256") || sha256;
    },
    onSuccess: () => events.onDone({ id: fileId, sha256, size: file.size }),
    onError: (error) => {
      const body = (error as { originalResponse?: { getBody(): string } | null }).originalResponse?.getBody() ?? "";
      events.onError(errorMessage(body, "the upload failed; choose the file again to resume it"));
    },
  });
  void upload.findPreviousUploads().then((previous) => {
    if (previous[0]) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
  return {
    resumable: true,
    pause: () => void upload.abort(),
    resume: () => upload.start(),
    cancel: () => void upload.abort(true),
  };
}
