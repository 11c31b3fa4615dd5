"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";

function useRemoval() {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  async function run(question: string, request: () => Promise<Response>) {
    if (!window.confirm(question)) return;
    const res = await request();
    if (!res.ok) {
      const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
      setError(body?.error?.message ?? "it could not be removed");
      return;
    }
    router.refresh();
  }
  return { error, run };
}

export function DeleteFileButton({ id, name }: { id: string; name: string }) {
  const { error, run } = useRemoval();
  return (
    <>
      <button
        type="button"
        className="secondary"
        onClick={() =>
          run(`Delete ${name}? The file is removed from storage; the audit trail keeps a record.`, () =>
            fetch(`/api/files/${id}`, { method: "DELETE" }),
          )
        }
      >
        Delete
      </button>
      {error && <span className="status-bad"> {error}</span>}
    </>
  );
}

/** Ends the person's own unfinished upload (tus termination): its partial bytes are removed. */
export function CancelUploadButton({ uploadId, name }: { uploadId: string; name: string }) {
  const { error, run } = useRemoval();
  return (
    <>
      <button
        type="button"
        className="secondary"
        onClick={() =>
          run(`Cancel the unfinished upload of ${name}? What was received so far is removed.`, () =>
            fetch(`/api/uploads/tus/${uploadId}`, { method: "DELETE", headers: { "tus-resumable": "1.0.0" } }),
          )
        }
      >
        Cancel upload
      </button>
      {error && <span className="status-bad"> {error}</span>}
    </>
  );
}
