"use client";

import { useState } from "react";

/** Copies a value (a sha256) to the clipboard and says so. */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="secondary copy"
      aria-label={`${label} ${text.slice(0, 12)}…`}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
        } catch {
          // Clipboard refused (plain http, permissions): select the text for Ctrl-C instead.
          const range = document.createRange();
          const code = document.querySelector(`[data-copy="${text}"]`);
          if (code) {
            range.selectNodeContents(code);
            window.getSelection()?.removeAllRanges();
            window.getSelection()?.addRange(range);
          }
        }
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      }}
    >
      {copied ? "Copied" : label}
    </button>
  );
}
