import { describe, expect, test } from "vitest";
import { csvStream } from "./csv";

const lineOf = (i: number) => `${i},row ${i}\r\n`;

describe("csvStream", () => {
  async function* pagesOf(n: number, size: number) {
    for (let i = 0; i < n; i += size) yield Array.from({ length: Math.min(size, n - i) }, (_, j) => lineOf(i + j));
  }

  test("streams the header and every line, one chunk a page", async () => {
    const chunks: string[] = [];
    for await (const chunk of csvStream("n,text\r\n", pagesOf(5, 2)) as unknown as AsyncIterable<Uint8Array>)
      chunks.push(new TextDecoder().decode(chunk));
    expect(chunks).toEqual(["n,text\r\n0,row 0\r\n1,row 1\r\n", "2,row 2\r\n3,row 3\r\n", "4,row 4\r\n"]);
  });

  test("a page longer than a piece arrives in pieces, every byte once, in order", async () => {
    const long = Array.from({ length: 3000 }, (_, i) => lineOf(i));
    async function* one() {
      yield long;
    }
    const chunks: string[] = [];
    for await (const chunk of csvStream("n\r\n", one()) as unknown as AsyncIterable<Uint8Array>)
      chunks.push(new TextDecoder().decode(chunk));
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.join("")).toBe(`n\r\n${long.join("")}`);
  });

  test("an empty source still gives the header", async () => {
    expect(await new Response(csvStream("a,b\r\n", pagesOf(0, 1))).text()).toBe("a,b\r\n");
  });

  test("reads a page only when the consumer pulls: a slow reader holds the source back", async () => {
    let produced = 0;
    async function* counted() {
      for (let page = 0; page < 1000; page++) {
        produced++;
        yield Array.from({ length: 100 }, (_, j) => lineOf(page * 100 + j));
      }
    }
    const reader = csvStream("n\r\n", counted()).getReader();
    for (let read = 1; read <= 5; read++) {
      await reader.read();
      // Time enough for a source that runs ahead to run far ahead.
      await new Promise((resolve) => setTimeout(resolve, 20));
      // What was read, plus the one chunk the stream keeps queued.
      expect(produced).toBeLessThanOrEqual(read + 1);
    }
    await reader.cancel();
    expect(produced).toBeLessThanOrEqual(6);
  });

  test("cancelling the stream stops the source", async () => {
    let finished = false;
    async function* endless() {
      try {
        for (let i = 0; ; i += 3) yield [lineOf(i), lineOf(i + 1), lineOf(i + 2)];
      } finally {
        finished = true;
      }
    }
    const reader = csvStream("n\r\n", endless()).getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe("n\r\n0,row 0\r\n1,row 1\r\n2,row 2\r\n");
    await reader.cancel();
    expect(finished).toBe(true);
  });

  test("a failing source errors the stream", async () => {
    async function* failing() {
      yield [lineOf(1)];
      throw new Error("database went away");
    }
    await expect(new Response(csvStream("n\r\n", failing())).text()).rejects.toThrow();
  });
});
