"use client";

import { useEffect } from "react";

const REFRESH_EVERY_MS = 5 * 60 * 1000;
let lastRefresh = Date.now();

/**
 * Sessions end after SESSION_IDLE_MINUTES without activity. Activity (typing, clicking, scrolling, or an
 * upload making progress) refreshes the session, at most every five minutes.
 */
export function noteActivity() {
  if (Date.now() - lastRefresh < REFRESH_EVERY_MS) return;
  lastRefresh = Date.now();
  void fetch("/api/session", { cache: "no-store" });
}

export function SessionKeepAlive() {
  useEffect(() => {
    const events = ["keydown", "pointerdown", "scroll", "dragover"] as const;
    for (const e of events) window.addEventListener(e, noteActivity, { passive: true });
    return () => {
      for (const e of events) window.removeEventListener(e, noteActivity);
    };
  }, []);
  return null;
}
