"use client";

import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";

interface Props {
  cohorts: { id: string; name: string }[];
}

/** Creates a token and shows its secret once; the server keeps only a hash of it. */
export function CreateTokenForm({ cohorts }: Props) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    setBusy(true);
    setError(null);
    setSecret(null);
    try {
      const res = await fetch("/api/tokens", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          name: form.get("name"),
          expiresInDays: Number(form.get("days")),
          cohortId: form.get("cohortId") || null,
          permission: form.get("permission"),
        }),
      });
      const data = (await res.json().catch(() => null)) as { secret?: string; error?: { message?: string } } | null;
      if (!res.ok || !data?.secret) {
        setError(data?.error?.message ?? `The request failed (HTTP ${res.status}).`);
        return;
      }
      setSecret(data.secret);
      formElement.reset();
      router.refresh();
    } catch {
      setError("The server could not be reached. Check your connection and try again.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={onSubmit} data-testid="create-token-form">
      <label htmlFor="token-name">Name</label>
      <input id="token-name" name="name" required maxLength={100} placeholder="quarterly submission from sas01" />
      <label htmlFor="token-days">Expires after (days, at most 365)</label>
      <input id="token-days" name="days" type="number" min={1} max={365} defaultValue={90} required />
      <label htmlFor="token-cohort">Cohort</label>
      <select id="token-cohort" name="cohortId" defaultValue="">
        <option value="">Every cohort I can reach</option>
        {cohorts.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
          </option>
        ))}
      </select>
      <label htmlFor="token-permission">Permission</label>
      <select id="token-permission" name="permission" defaultValue="upload">
        <option value="upload">upload (and see file records)</option>
        <option value="download">download (and see file records)</option>
        <option value="read">read (cohorts and file records only)</option>
      </select>
      <div style={{ marginTop: "1rem" }}>
        <button type="submit" disabled={busy}>
          {busy ? "Creating…" : "Create token"}
        </button>
      </div>
      {error && (
        <p className="error" role="alert" data-testid="create-token-error">
          {error}
        </p>
      )}
      {secret && (
        <div className="card" data-testid="new-token">
          <p>
            <strong>Copy this token now: it is shown only once.</strong> Use it with <code>depot login</code> or as{" "}
            <code>DEPOT_TOKEN</code>.
          </p>
          <code data-testid="new-token-secret" style={{ userSelect: "all", wordBreak: "break-all" }}>
            {secret}
          </code>
        </div>
      )}
    </form>
  );
}
