import { expect, test } from "vitest";
import { canonicalId, isUuid } from "./ids";

const id = "3f2c1a9e-5b7d-4c8e-9f10-2a3b4c5d6e7f";

test("a UUID in any letter case has one canonical spelling: lower case", () => {
  expect(canonicalId(id)).toBe(id);
  expect(canonicalId(id.toUpperCase())).toBe(id);
  expect(isUuid(id.toUpperCase())).toBe(true);
});

test("anything else is not an id", () => {
  for (const value of [
    undefined,
    null,
    "",
    "not-a-uuid",
    `${id} `,
    ` ${id}`,
    `${id}\n`,
    id.replaceAll("-", ""),
    `{${id}}`,
    id.replace("3", "g"),
    `${id}0`,
  ]) {
    expect(canonicalId(value), String(value)).toBeUndefined();
    expect(isUuid(value)).toBe(false);
  }
  expect(isUuid(42)).toBe(false);
});
