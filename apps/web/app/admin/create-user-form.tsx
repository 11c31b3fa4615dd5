"use client";

import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { MIN_PASSWORD_LENGTH, sendJson } from "./admin-fetch";

export function CreateUserForm() {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<string | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    setBusy(true);
    setError(null);
    setCreated(null);
    const email = String(form.get("email") ?? "");
    const problem = await sendJson("POST", "/api/admin/users", {
      email,
      name: form.get("name"),
      password: form.get("password"),
      role: form.get("role"),
    });
    setBusy(false);
    if (problem) {
      setError(problem);
      return;
    }
    formElement.reset();
    setCreated(`Created ${email}.`);
    router.refresh();
  }

  return (
    <form onSubmit={onSubmit} data-testid="create-user-form">
      <label htmlFor="new-user-email">Email</label>
      <input id="new-user-email" name="email" type="email" autoComplete="off" required />
      <label htmlFor="new-user-name">Name</label>
      <input id="new-user-name" name="name" required maxLength={200} />
      <label htmlFor="new-user-password">Password (at least {MIN_PASSWORD_LENGTH} characters)</label>
      <input
        id="new-user-password"
        name="password"
        type="password"
        autoComplete="new-password"
        minLength={MIN_PASSWORD_LENGTH}
        required
      />
      <label htmlFor="new-user-role">Role</label>
      <select id="new-user-role" name="role" defaultValue="member">
        <option value="member">Member</option>
        <option value="administrator">Administrator</option>
      </select>
      <div style={{ marginTop: "1rem" }}>
        <button type="submit" disabled={busy}>
          {busy ? "Creating…" : "Create user"}
        </button>
      </div>
      {created && (
        <p className="status-ok" role="status">
          {created}
        </p>
      )}
      {error && (
        <p className="error" role="alert" data-testid="create-user-error">
          {error}
        </p>
      )}
    </form>
  );
}
