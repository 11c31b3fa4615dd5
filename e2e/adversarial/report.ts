import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "vitest";
import { repoRoot } from "../../scripts/stack";

export interface CaseResult {
  group: string;
  name: string;
  expected: string;
  got: string;
  pass: boolean;
}

export const results: CaseResult[] = [];

/** What the suite holds Depot to beyond "refuse clearly and keep nothing", and what it knowingly does not. */
const DECISIONS = [
  "## Decisions",
  "",
  "- **Disguised content.** Depot looks at the first 512 bytes of every upload (the multipart file, or a tus",
  "  upload's first PATCH) while streaming them through. A native executable (ELF, Windows PE, Mach-O) is refused",
  "  with `415 unsupported_type` whatever it is called, and nothing is kept: no research data file is a program.",
  "  Any other disagreement between content and extension (a `.csv` that is a ZIP, a `.sav` that is text) is",
  "  accepted, because refusing could lose real data, and recorded as a `content_mismatch` audit row (web tier,",
  "  with the detected format and the extension) next to the upload's own rows, for the coordinating center to",
  "  review. Extensions outside the built-in list are not checked.",
  "- **File names** are display text only: folders, control, bidi and zero-width characters are removed, device",
  "  names get a leading `_`, length is capped at 200; the storage key is `<cohort>/<yyyy>/<mm>/<file-id>`. Raw",
  "  control bytes inside a multipart part header are refused by the parser (`400`); percent-encoded ones",
  "  (`filename*=`) and tus metadata are decoded and then removed (multipart) or refused (tus, `400`).",
  "- **Requests the parser refuses** get Node's own `400`/`431` without a JSON body; a connection that stays",
  "  silent (a lying Content-Length, a slow header) is closed after `IDLE_TIMEOUT_SECONDS` with no answer.",
  "- **Sign-in** has one path, `POST /api/session` (next-auth's HTTP routes are not mounted: `/api/auth/*` is 404).",
  "  The client's address is the socket's, or the rightmost untrusted `X-Forwarded-For` hop behind `TRUSTED_PROXIES`.",
  "  Failed sign-ins are limited to 5 a minute per account and 30 a minute per address, counted atomically in",
  "  PostgreSQL (an attempt takes its place under advisory locks before its password is checked).",
  "- **Sessions** carry the user's session version; a password change or reset, deactivation, a role or membership",
  "  change and sign-out raise it, so every earlier token stops working on its next request. Renewal",
  "  (`GET /api/session`) never goes past `SESSION_MAX_HOURS` after sign-in, and a session that no longer stands",
  "  gets its cookie removed, not renewed. Sign-out therefore ends every session of that person, on every device.",
  "- **Bodies and methods**: routes that are not uploads refuse bodies over 64 KiB (`413`, from Content-Length",
  "  before reading, or while reading); a method a route does not serve is `405` with `Allow`, on pages too.",
  "- **Concurrent deletes** of one file: storage claims the row with a conditional update, so exactly one gets",
  "  `200` and one `file_deleted` row per tier; the others, and any later delete, get `404`.",
  "- **Ids** are lower-cased at the edge (path, query, body, form field, tus metadata) before any comparison or",
  "  storage key; filters are checked against what PostgreSQL accepts and a refusal names the field.",
  "",
  "## Known limits (not tested as failures)",
  "",
  "- The executable check is a safety net, not a boundary: it sees only the first bytes of the first chunk, so a",
  "  tus client that splits the magic number over two PATCHes, or any `.zip`, can still carry a program. Downloads",
  "  are always `application/octet-stream`, `attachment` and `nosniff`, so nothing runs in the browser.",
  "- Five failed sign-ins a minute lock that account for the minute, whoever made them (the last case does this",
  "  on purpose): someone who knows an email address can keep its owner out by guessing wrong on purpose.",
];

/** What a case observed; set `got` as soon as the answer is in, so a failed assertion still shows it. */
export interface Observed {
  got: string;
}

/**
 * One row of the report and one test: the test fails when `run` throws, and the row records what was
 * seen either way.
 */
export function adversarialCase(group: string, name: string, expected: string, run: (o: Observed) => Promise<void>) {
  test(`${group}: ${name}`, async () => {
    const row: CaseResult = { group, name, expected, got: "", pass: false };
    results.push(row);
    try {
      await run(row);
      row.pass = true;
    } catch (error) {
      const message = (error as Error).message?.split("\n")[0]?.slice(0, 200) ?? String(error);
      row.got = row.got ? `${row.got} — FAILED: ${message}` : `FAILED: ${message}`;
      throw error;
    }
  });
}

/** Table-safe: no pipes or line breaks, and invisible or reordering characters shown as \u{…} escapes. */
const cell = (text: string) =>
  text
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, (c) =>
      c === "\n" ? " " : `\\u{${c.codePointAt(0)?.toString(16).padStart(4, "0")}}`,
    )
    .replace(/\|/g, "\\|")
    .replace(/`/g, "'")
    .replace(/([^\s"]{60})[^\s"]{20,}/g, "$1…");

export function writeReport(runtimeMs: number, settings: { idleSeconds: number; maxUploadBytes: number }) {
  const path = join(repoRoot, "docs/reliability.md");
  mkdirSync(dirname(path), { recursive: true });
  const passed = results.filter((r) => r.pass).length;
  const lines = [
    "# Reliability: adversarial requests",
    "",
    `Last run: ${new Date().toISOString()} — ${passed} of ${results.length} cases passed in ${(runtimeMs / 1000).toFixed(1)} s.`,
    "",
    "`pnpm test:adversarial` (root; it builds the web app first, then runs `e2e/adversarial/*.test.ts` with Vitest) starts",
    "both Depot servers as real processes on an embedded PostgreSQL of their own (the fault suite's harness, with",
    `IDLE_TIMEOUT_SECONDS=${settings.idleSeconds} and MAX_UPLOAD_BYTES=${settings.maxUploadBytes} on both tiers) and attacks them the way a careful outsider or a malicious`,
    "insider would: forged, tampered, expired and revoked sessions; other people's cohorts, files and tus uploads;",
    "missing, wrong and misplaced internal API keys; headers that lie about the body; broken multipart and tus",
    "requests; hostile file names and disguised content; storage keys that try to leave the disk. Requests the",
    "usual clients refuse to send are written byte by byte on raw sockets. Every case expects a clear refusal",
    "(the right 4xx and, where the route speaks JSON, the `{ error: { code, message } }` shape, never a 500, a",
    "stack trace, an internal path or a secret) and that nothing was stored (no new `stored` files row, no new",
    "object or partial under the storage root). This file is rewritten on every run; a failed case also fails",
    "the suite.",
    "",
    "Refusals made by Node's HTTP parser before a request reaches Depot's code (malformed framing, oversized",
    "headers) are plain-text `400`/`431` answers with the connection closed; they carry no body to leak.",
    "",
    ...DECISIONS,
    "",
    "## Results",
    "",
    "| # | group | case | expected | got | result |",
    "| ---: | --- | --- | --- | --- | --- |",
    ...results.map(
      (r, i) =>
        `| ${i + 1} | ${cell(r.group)} | ${cell(r.name)} | ${cell(r.expected)} | ${cell(r.got)} | ${r.pass ? "pass" : "**FAIL**"} |`,
    ),
    "",
  ];
  writeFileSync(path, lines.join("\n"));
}
