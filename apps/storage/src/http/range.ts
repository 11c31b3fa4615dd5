import type { ByteRange } from "../drivers/driver";

/**
 * One `bytes=` range of RFC 9110 against an object of `size` bytes: null for none (or for several
 * ranges, which we answer in full), "unsatisfiable" for a range outside the object.
 */
export function parseRange(value: string | undefined, size: number): ByteRange | null | "unsatisfiable" {
  if (!value) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match) return null;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return null;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}
