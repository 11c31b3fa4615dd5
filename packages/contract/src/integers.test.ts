import { expect, test } from "vitest";
import { DepotError } from "./errors";
import { parseIntegerHeader } from "./integers";

test("absent is undefined; digits are their value, up to 2^53 - 1", () => {
  expect(parseIntegerHeader(undefined, "Content-Length")).toBeUndefined();
  expect(parseIntegerHeader(null, "Content-Length")).toBeUndefined();
  expect(parseIntegerHeader("0", "Content-Length")).toBe(0);
  expect(parseIntegerHeader("007", "Content-Length")).toBe(7);
  expect(parseIntegerHeader("9007199254740991", "Content-Length")).toBe(Number.MAX_SAFE_INTEGER);
});

test("what Number() would accept but a header must not carry is a 400 naming the header", () => {
  for (const value of [
    "",
    " 1",
    "1 ",
    "-1",
    "+1",
    "1.5",
    "1e3",
    "0x10",
    "Infinity",
    "9007199254740992",
    "12345678901234567",
    "1,2",
  ]) {
    let error: unknown;
    try {
      parseIntegerHeader(value, "X-Depot-Expected-Size");
    } catch (e) {
      error = e;
    }
    expect(error, JSON.stringify(value)).toBeInstanceOf(DepotError);
    expect(error).toMatchObject({
      code: "bad_request",
      message: "X-Depot-Expected-Size must be a non-negative integer",
    });
  }
});
