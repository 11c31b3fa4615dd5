"use client";

export function SignOutButton() {
  async function signOut() {
    await fetch("/api/session", { method: "DELETE" });
    window.location.assign("/login");
  }
  return (
    <button type="button" className="secondary" onClick={signOut}>
      Sign out
    </button>
  );
}
