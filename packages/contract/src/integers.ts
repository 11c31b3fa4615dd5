import { DepotError } from "./errors";

/** Digits only, at most 16 of them (the value must also be below 2^53, where Number() is still exact). */
const INTEGER = /^\d{1,16}$/;

/**
 * A header that carries a non-negative integer (Content-Length, X-Depot-Expected-Size, a count): undefined when
 * absent, its value when well-formed, a 400 naming the header otherwise (signs, spaces, decimals, exponents, hex
 * and values past 2^53 - 1 are refused, where Number() would take several of them).
 */
export function parseIntegerHeader(value: string | null | undefined, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = Number(value);
  if (!INTEGER.test(value) || !Number.isSafeInteger(parsed)) {
    throw new DepotError("bad_request", `${name} must be a non-negative integer`);
  }
  return parsed;
}
