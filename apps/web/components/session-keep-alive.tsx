"use client";

import { useEffect } from "react";

const REFRESH_EVERY_MS = 5 * 60 * 1000;

/**
 * Sessions end after a period without activity. While the person is active (typing, clicking, or an
 * upload page is open and working), the session is refreshed at most every five minutes.
 */
export function SessionKeepAlive() {
  useEffect(() => {
    let last = Date.now();
    const onActivity = () => {
      if (Date.now() - last < REFRESH_EVERY_MS) return;
      last = Date.now();
      void fetch("/api/auth/session", { cache: "no-store" });
    };
    const events = ["keydown", "pointerdown", "scroll", "dragover"] as const;
    for (const e of events) window.addEventListener(e, onActivity, { passive: true });
    return () => {
      for (const e of events) window.removeEventListener(e, onActivity);
    };
  }, []);
  return null;
}
