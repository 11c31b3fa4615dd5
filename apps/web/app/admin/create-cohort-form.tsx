"use client";

import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { sendJson } from "./admin-fetch";

export function CreateCohortForm() {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    setBusy(true);
    setError(null);
    const problem = await sendJson("POST", "/api/admin/cohorts", {
      name: form.get("name"),
      description: form.get("description"),
    });
    setBusy(false);
    if (problem) {
      setError(problem);
      return;
    }
    formElement.reset();
    router.refresh();
  }

  return (
    <form onSubmit={onSubmit} data-testid="create-cohort-form">
      <label htmlFor="new-cohort-name">Name</label>
      <input id="new-cohort-name" name="name" required maxLength={200} />
      <label htmlFor="new-cohort-description">Description</label>
      <input id="new-cohort-description" name="description" maxLength={2000} />
      <div style={{ marginTop: "1rem" }}>
        <button type="submit" disabled={busy}>
          {busy ? "Creating…" : "Create cohort"}
        </button>
      </div>
      {error && (
        <p className="error" role="alert" data-testid="create-cohort-error">
          {error}
        </p>
      )}
    </form>
  );
}
