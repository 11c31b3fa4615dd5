"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";
import { MIN_PASSWORD_LENGTH, sendJson } from "./admin-fetch";

interface Props {
  userId: string;
  email: string;
  active: boolean;
  role: "administrator" | "member";
  self: boolean;
}

/** Activate or deactivate, reset the password, change the role: one PATCH each. */
export function UserActions({ userId, email, active, role, self }: Props) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  async function patch(body: Record<string, unknown>, done: string) {
    setBusy(true);
    setError(null);
    setNotice(null);
    const problem = await sendJson("PATCH", `/api/admin/users/${userId}`, body);
    setBusy(false);
    if (problem) {
      setError(problem);
      return;
    }
    setNotice(done);
    router.refresh();
  }

  function resetPassword() {
    const password = window.prompt(`New password for ${email} (at least ${MIN_PASSWORD_LENGTH} characters):`);
    if (password === null) return;
    if (password.length < MIN_PASSWORD_LENGTH) {
      setError(`The password must have at least ${MIN_PASSWORD_LENGTH} characters.`);
      return;
    }
    void patch({ password }, "Password reset.");
  }

  return (
    <div data-testid={`user-actions-${email}`}>
      <div style={{ display: "flex", gap: "0.4rem", flexWrap: "wrap" }}>
        <button
          type="button"
          className="secondary"
          disabled={busy || (self && active)}
          title={self && active ? "You cannot deactivate your own account" : undefined}
          onClick={() => patch({ active: !active }, active ? "Deactivated." : "Activated.")}
          data-testid="toggle-active"
        >
          {active ? "Deactivate" : "Activate"}
        </button>
        <button
          type="button"
          className="secondary"
          disabled={busy}
          onClick={resetPassword}
          data-testid="reset-password"
        >
          Reset password
        </button>
        <button
          type="button"
          className="secondary"
          disabled={busy || (self && role === "administrator")}
          title={self && role === "administrator" ? "You cannot remove your own administrator role" : undefined}
          onClick={() =>
            patch(
              { role: role === "administrator" ? "member" : "administrator" },
              role === "administrator" ? "Now a member." : "Now an administrator.",
            )
          }
          data-testid="toggle-role"
        >
          {role === "administrator" ? "Make member" : "Make administrator"}
        </button>
      </div>
      {notice && (
        <p className="muted" role="status">
          {notice}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
