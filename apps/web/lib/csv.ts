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
 * Text is encoded and queued in pieces of about this many characters: a page's text as one string would be a large
 * object in V8's heap, which only a full collection frees, and the heap would grow by pages' worth before one runs.
 */
const PIECE_CHARS = 32 * 1024;

/**
 * A streaming CSV body: the header, then one record per row of `pages`. A page is read only when the consumer pulls
 * (the stream asks for more once what it queued is taken), so a slow client holds back the reading instead of the
 * text piling up in memory. Cancelling the response (the client went away) stops the source generator.
 */
export function csvStream<T>(
  header: readonly string[],
  pages: AsyncIterable<readonly T[]>,
  toValues: (row: T) => readonly CsvValue[],
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = pages[Symbol.asyncIterator]();
  let headerSent = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let piece = "";
        if (!headerSent) {
          piece = csvRow(header);
          headerSent = true;
        }
        try {
          const next = await iterator.next();
          if (next.done) {
            if (piece) controller.enqueue(encoder.encode(piece));
            controller.close();
            return;
          }
          for (const row of next.value) {
            piece += csvRow(toValues(row));
            if (piece.length >= PIECE_CHARS) {
              controller.enqueue(encoder.encode(piece));
              piece = "";
            }
          }
        } catch (error) {
          controller.error(error);
          return;
        }
        if (piece) controller.enqueue(encoder.encode(piece));
      },
      async cancel() {
        await iterator.return?.();
      },
    },
    { highWaterMark: 1 },
  );
}
