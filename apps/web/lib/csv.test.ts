import { describe, expect, test } from "vitest";
import { csvField, csvRow, csvStream } from "./csv";

describe("csvField", () => {
  test.each([
    ["plain", "plain"],
    ["", ""],
    ["a,b", '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ["line1\nline2", '"line1\nline2"'],
    ["line1\r\nline2", '"line1\r\nline2"'],
    ['"', '""""'],
  ])("quotes %j as %j", (input, output) => {
    expect(csvField(input)).toBe(output);
  });

  test.each([
    ["=1+1", "'=1+1"],
    ["+1", "'+1"],
    ["-1", "'-1"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tx", "'\tx"],
    ["\rx", '"\'\rx"'],
    ['=HYPERLINK("http://evil","x")', '"\'=HYPERLINK(""http://evil"",""x"")"'],
    ["=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"],
  ])("neutralises the formula %j", (input, output) => {
    expect(csvField(input)).toBe(output);
  });

  test("leaves formula characters alone when they are not first", () => {
    expect(csvField("a=b")).toBe("a=b");
    expect(csvField("user@example.org")).toBe("user@example.org");
  });

  test("writes numbers, bigints, booleans, dates, nulls and objects", () => {
    expect(csvField(-5)).toBe("-5");
    expect(csvField(12345678901234567890n)).toBe("12345678901234567890");
    expect(csvField(true)).toBe("true");
    expect(csvField(new Date("2026-03-01T12:00:00.5Z"))).toBe("2026-03-01T12:00:00.500Z");
    expect(csvField(null)).toBe("");
    expect(csvField(undefined)).toBe("");
    expect(csvField({ a: 1, b: "x,y" })).toBe('"{""a"":1,""b"":""x,y""}"');
  });
});

test("csvRow joins fields with commas and ends with CRLF", () => {
  expect(csvRow(["a", 1, null, "b,c", "=x"])).toBe('a,1,,"b,c",\'=x\r\n');
});

describe("csvStream", () => {
  async function* pagesOf(n: number, size: number) {
    for (let i = 0; i < n; i += size) yield Array.from({ length: Math.min(size, n - i) }, (_, j) => i + j);
  }

  test("streams the header and every row, one chunk a page", async () => {
    const stream = csvStream(["n", "text"], pagesOf(5, 2), (i) => [i, i === 3 ? "=bad" : `row ${i}`]);
    const chunks: string[] = [];
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>)
      chunks.push(new TextDecoder().decode(chunk));
    expect(chunks).toEqual(["n,text\r\n0,row 0\r\n1,row 1\r\n", "2,row 2\r\n3,'=bad\r\n", "4,row 4\r\n"]);
  });

  test("an empty source still gives the header", async () => {
    expect(await new Response(csvStream(["a", "b"], pagesOf(0, 1), (i) => [i])).text()).toBe("a,b\r\n");
  });

  test("reads a page only when the consumer pulls: a slow reader holds the source back", async () => {
    let produced = 0;
    async function* counted() {
      for (let page = 0; page < 1000; page++) {
        produced++;
        yield Array.from({ length: 100 }, (_, j) => page * 100 + j);
      }
    }
    const reader = csvStream(["n"], counted(), (i) => [i]).getReader();
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
        for (let i = 0; ; i += 3) yield [i, i + 1, i + 2];
      } finally {
        finished = true;
      }
    }
    const reader = csvStream(["n"], endless(), (i) => [i]).getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe("n\r\n0\r\n1\r\n2\r\n");
    await reader.cancel();
    expect(finished).toBe(true);
  });

  test("a failing source errors the stream", async () => {
    async function* failing() {
      yield [1];
      throw new Error("database went away");
    }
    await expect(new Response(csvStream(["n"], failing(), (i) => [i])).text()).rejects.toThrow();
  });
});
