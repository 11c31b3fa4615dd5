/** Characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection"), tab and CR included. */
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export type CsvValue = string | number | bigint | boolean | Date | null | undefined | Record<string, unknown>;

/**
 * One CSV field (RFC 4180): text that a spreadsheet would run as a formula gets a leading apostrophe; a field
 * with a quote, comma or line break is quoted with inner quotes doubled. Numbers are written as they are,
 * so a negative number stays a number; null and undefined become an empty field; objects become JSON.
 */
export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  let text = value instanceof Date ? value.toISOString() : typeof value === "string" ? value : JSON.stringify(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV record, CRLF-terminated. */
export function csvRow(values: readonly CsvValue[]): string {
  return `${values.map(csvField).join(",")}\r\n`;
}

/**
 * A streaming CSV body: the header, then one record per item of `rows`, read only as fast as the client
 * takes them. Cancelling the response (the client went away) stops the source generator.
 */
export function csvStream<T>(
  header: readonly string[],
  rows: AsyncIterable<T>,
  toValues: (row: T) => readonly CsvValue[],
  options: { batch?: number } = {},
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = rows[Symbol.asyncIterator]();
  const batch = options.batch ?? 200;
  let headerSent = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk = "";
      if (!headerSent) {
        chunk = csvRow(header);
        headerSent = true;
      }
      try {
        for (let i = 0; i < batch; i++) {
          const next = await iterator.next();
          if (next.done) {
            if (chunk) controller.enqueue(encoder.encode(chunk));
            controller.close();
            return;
          }
          chunk += csvRow(toValues(next.value));
        }
      } catch (error) {
        controller.error(error);
        return;
      }
      controller.enqueue(encoder.encode(chunk));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}
