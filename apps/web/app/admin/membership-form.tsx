"use client";

import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { sendJson } from "./admin-fetch";

interface Props {
  users: { id: string; email: string; name: string }[];
  cohorts: { id: string; name: string }[];
}

/** Adds a membership, or changes the role of an existing one. */
export function MembershipForm({ users, cohorts }: Props) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    const problem = await sendJson("PUT", "/api/admin/memberships", {
      userId: form.get("userId"),
      cohortId: form.get("cohortId"),
      role: form.get("role"),
    });
    setBusy(false);
    if (problem) {
      setError(problem);
      return;
    }
    router.refresh();
  }

  return (
    <form onSubmit={onSubmit} data-testid="membership-form">
      <label htmlFor="membership-user">User</label>
      <select id="membership-user" name="userId" required defaultValue="">
        <option value="" disabled>
          Choose a user
        </option>
        {users.map((u) => (
          <option key={u.id} value={u.id}>
            {u.email} ({u.name})
          </option>
        ))}
      </select>
      <label htmlFor="membership-cohort">Cohort</label>
      <select id="membership-cohort" name="cohortId" required defaultValue="">
        <option value="" disabled>
          Choose a cohort
        </option>
        {cohorts.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
          </option>
        ))}
      </select>
      <label htmlFor="membership-role">Role</label>
      <select id="membership-role" name="role" defaultValue="viewer">
        <option value="viewer">Viewer (download)</option>
        <option value="manager">Manager (upload, download, delete)</option>
      </select>
      <div style={{ marginTop: "1rem" }}>
        <button type="submit" disabled={busy}>
          {busy ? "Saving…" : "Set membership"}
        </button>
      </div>
      {error && (
        <p className="error" role="alert" data-testid="membership-error">
          {error}
        </p>
      )}
    </form>
  );
}
