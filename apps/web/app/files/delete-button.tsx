"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";

export function DeleteFileButton({ id, name }: { id: string; name: string }) {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  async function remove() {
    if (!window.confirm(`Delete ${name}? The file is removed from storage; the audit trail keeps a record.`)) return;
    const res = await fetch(`/api/files/${id}`, { method: "DELETE" });
    if (!res.ok) {
      const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
      setError(body?.error?.message ?? "the file could not be deleted");
      return;
    }
    router.refresh();
  }
  return (
    <>
      <button type="button" className="secondary" onClick={remove}>
        Delete
      </button>
      {error && <span className="status-bad"> {error}</span>}
    </>
  );
}
