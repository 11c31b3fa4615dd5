"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";
import { sendJson } from "./admin-fetch";

interface Props {
  userId: string;
  cohortId: string;
  label: string;
}

export function RemoveMembershipButton({ userId, cohortId, label }: Props) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function remove() {
    if (!window.confirm(`Remove ${label}?`)) return;
    setBusy(true);
    setError(null);
    const problem = await sendJson("DELETE", "/api/admin/memberships", { userId, cohortId });
    setBusy(false);
    if (problem) {
      setError(problem);
      return;
    }
    router.refresh();
  }

  return (
    <>
      <button
        type="button"
        className="secondary"
        disabled={busy}
        onClick={remove}
        aria-label={`Remove ${label}`}
        data-testid="remove-membership"
      >
        Remove
      </button>
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </>
  );
}
