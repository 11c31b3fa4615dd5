/**
 * Text is encoded and queued in pieces of about this many characters: a page's text as one string would be a large
 * object in V8's heap, which only a full collection frees, and the heap would grow by pages' worth before one runs.
 */
const PIECE_CHARS = 32 * 1024;

/**
 * A streaming CSV body: the header line, then the records of `pages`, each a list of CSV lines the database wrote
 * (auditCsvPages). A page is read only when the consumer pulls (the stream asks for more once what it queued is
 * taken), so a slow client holds back the reading instead of the text piling up in memory. Cancelling the response
 * (the client went away) stops the source generator.
 */
export function csvStream(header: string, pages: AsyncIterable<readonly string[]>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = pages[Symbol.asyncIterator]();
  let headerSent = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let piece = "";
        if (!headerSent) {
          piece = header;
          headerSent = true;
        }
        try {
          const next = await iterator.next();
          if (next.done) {
            if (piece) controller.enqueue(encoder.encode(piece));
            controller.close();
            return;
          }
          for (const line of next.value) {
            piece += line;
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
