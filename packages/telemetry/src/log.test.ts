import { Writable } from "node:stream";
import { expect, test } from "vitest";
import { createLogger, describeError } from "./log";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

test("one line shape for both tiers: level, ISO time, service, requestId, message", () => {
  const { lines, stream } = capture();
  const logger = createLogger("storage", stream);
  logger.level = "info";
  logger.warn({ requestId: "r-1", code: "not_found" }, "request refused");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({
    level: "warn",
    service: "storage",
    requestId: "r-1",
    code: "not_found",
    message: "request refused",
  });
  expect(new Date(lines[0]?.time as string).toISOString()).toBe(lines[0]?.time);
});

test("cookies, API keys, bearer tokens and passwords are redacted wherever a caller puts them", () => {
  const { lines, stream } = capture();
  const logger = createLogger("web", stream);
  logger.level = "info";
  logger.info(
    {
      headers: {
        cookie: "next-auth.session-token=abc",
        authorization: "Bearer dpt_secret",
        "x-api-key": "k".repeat(32),
      },
      request: { headers: { cookie: "c", "x-api-key": "key" } },
      password: "admin123",
      options: { apiKey: "k2", token: "t" },
    },
    "incoming",
  );
  const text = JSON.stringify(lines);
  for (const secret of ["abc", "dpt_secret", "k".repeat(32), "admin123", '"k2"', '"t"', '"key"', '"c"']) {
    expect(text).not.toContain(secret);
  }
  expect(lines[0]).toMatchObject({ headers: { cookie: "[redacted]", "x-api-key": "[redacted]" } });
});

test("DEPOT_LOG=silent writes nothing", () => {
  const previous = process.env.DEPOT_LOG;
  process.env.DEPOT_LOG = "silent";
  try {
    const { lines, stream } = capture();
    createLogger("web", stream).error({ requestId: "r" }, "route failed");
    expect(lines).toEqual([]);
  } finally {
    if (previous === undefined) delete process.env.DEPOT_LOG;
    else process.env.DEPOT_LOG = previous;
  }
});

test("an error is described by class and code, never by its message", () => {
  const error = Object.assign(new Error("ENOENT: /srv/nas/cohort-1/secret-name.csv"), { code: "ENOENT" });
  expect(describeError(error)).toBe("Error (ENOENT)");
  expect(describeError(null)).toBe("object");
});
