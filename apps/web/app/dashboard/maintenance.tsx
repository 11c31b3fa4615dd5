"use client";

import { useState } from "react";

interface Item {
  category: string;
  disk: string;
  key: string;
  bytes: number;
  ageHours: number;
}

/** Administrators start a dry-run cleanup and see what it would remove. */
export function CleanupPreview() {
  const [items, setItems] = useState<Item[] | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function preview() {
    setBusy(true);
    setMessage(null);
    const res = await fetch("/api/maintenance/cleanup-preview", { method: "POST" });
    const body = (await res.json().catch(() => null)) as {
      ran?: boolean;
      items?: Item[];
      error?: { message: string };
    } | null;
    setBusy(false);
    if (!res.ok || !body?.items) {
      setMessage(
        body?.error?.message ??
          (body?.ran === false ? "A cleanup is running right now; try again shortly." : "The preview failed."),
      );
      return;
    }
    setItems(body.items);
  }
  return (
    <div data-testid="cleanup-preview">
      <button type="button" className="secondary" onClick={preview} disabled={busy}>
        {busy ? "Checking…" : "Preview cleanup (dry run)"}
      </button>
      {message && <p className="error">{message}</p>}
      {items && items.length === 0 && <p className="muted">A cleanup now would remove nothing.</p>}
      {items && items.length > 0 && (
        <table>
          <tbody>
            {items.map((item) => (
              <tr key={`${item.disk}:${item.key}`}>
                <td>{item.category.replace("_", " ")}</td>
                <td>
                  <code>{item.key}</code>
                </td>
                <td>{item.bytes} B</td>
                <td>{item.ageHours} h old</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
