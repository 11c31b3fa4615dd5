"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";
import { sendJson } from "../admin/admin-fetch";

export function RevokeTokenButton({ id, name }: { id: string; name: string }) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function revoke() {
    if (!window.confirm(`Revoke the token "${name}"? Scripts using it stop working at once.`)) return;
    setBusy(true);
    setError(null);
    const problem = await sendJson("DELETE", `/api/tokens/${id}`, {});
    setBusy(false);
    if (problem) {
      setError(problem);
      return;
    }
    router.refresh();
  }

  return (
    <>
      <button type="button" className="secondary" disabled={busy} onClick={revoke} data-testid="revoke-token">
        Revoke
      </button>
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </>
  );
}
