import { expect, test } from "vitest";
import { canonicalContent, canonicalJson, type HashedContent } from "./canonical";

const content: HashedContent = {
  occurredAt: new Date("2026-03-01T12:00:00.5Z"),
  action: 'said "no"\n\tthen \u0001 stopped \\ ',
  outcome: "success",
  serverRole: "web",
  hostname: "résumé — 日本 😀",
  requestId: null,
  actorUserId: "aaaaaaaa-0000-4000-8000-000000000001",
  actorIp: null,
  actorUserAgent: "\u2028",
  cohortId: null,
  fileId: null,
  disk: "workspace",
  storageKey: null,
  bytes: -5,
  sha256: null,
  error: null,
  metadata: { z: 1, a: { y: [1, "x", null], b: true }, m: "ü" },
};

test("canonicalContent is the canonical JSON of the fields in their fixed order, as trails already written hash", () => {
  const fields = [
    content.occurredAt.toISOString(),
    content.action,
    content.outcome,
    content.serverRole,
    content.hostname,
    content.requestId,
    content.actorUserId,
    content.actorIp,
    content.actorUserAgent,
    content.cohortId,
    content.fileId,
    content.disk,
    content.storageKey,
    content.bytes,
    content.sha256,
    content.error,
    content.metadata,
  ];
  expect(canonicalContent(content)).toBe(canonicalJson(fields));
  expect(canonicalContent({ ...content, bytes: null })).toBe(
    canonicalJson([...fields.slice(0, 13), null, ...fields.slice(14)]),
  );
  expect(canonicalContent(content)).toContain('{"a":{"b":true,"y":[1,"x",null]},"m":"ü","z":1}]');
});
