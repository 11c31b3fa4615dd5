import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough, Readable } from "node:stream";
import { DepotError } from "@depot/contract";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ContentCheck } from "./content-check";

// A stand-in storage service with storage's idle rule (a connection silent for IDLE_MS is closed) that notes
// when each request arrived and what it carried.
const IDLE_MS = 400;
const arrivals: { at: number; body: Buffer }[] = [];
let server: Server;
let streamToStorage: typeof import("./storage-client").streamToStorage;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      arrivals.push({ at, body: Buffer.concat(chunks) });
      res.writeHead(201, { "content-type": "application/json" }).end('{"ok":true}');
    });
  });
  server.setTimeout(IDLE_MS, (socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  Object.assign(process.env, {
    INTERNAL_API_KEY: "test-key-of-16-or-more",
    SERVICES_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    DATABASE_URL: "postgres://unused",
    AUTH_SECRET: "x".repeat(32),
  });
  ({ streamToStorage } = await import("./storage-client"));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const send = (source: Readable, inspect?: ContentCheck) =>
  streamToStorage({ path: "internal/storage/upload", method: "POST", source, headers: {}, maxBytes: 1024, inspect });

/** A client that starts slowly: one byte every `gapMs`. */
function slowBytes(text: string, gapMs: number) {
  const out = new PassThrough();
  let i = 0;
  const timer = setInterval(() => {
    if (i < text.length) out.write(text[i++]);
    else {
      clearInterval(timer);
      out.end();
    }
  }, gapMs);
  return out;
}

describe("streamToStorage", () => {
  test("a slow-starting client is not cut by storage's idle rule while the content check holds bytes back", async () => {
    arrivals.length = 0;
    // A byte every 250 ms (under the idle limit), fewer than the 512 bytes the check holds back: it decides only
    // at the end, after ~2 s. Before the change the connection to storage opened at once and sat silent that long.
    const reply = await send(slowBytes("a,b\n1,2\n", 250), new ContentCheck("csv"));
    expect(reply.statusCode).toBe(201);
    expect(arrivals).toHaveLength(1);
    expect(arrivals[0]?.body.toString()).toBe("a,b\n1,2\n");
  });

  test("without a check the request starts with the first byte", async () => {
    arrivals.length = 0;
    const source = new PassThrough();
    const started = Date.now();
    const reply = send(source);
    setTimeout(() => source.write("x"), 300);
    setTimeout(() => source.end("yz"), 600);
    expect((await reply).statusCode).toBe(201);
    expect(arrivals[0]!.at - started).toBeGreaterThanOrEqual(250);
    expect(arrivals[0]?.body.toString()).toBe("xyz");
  });

  test("an empty body still reaches storage; a refused executable never does", async () => {
    arrivals.length = 0;
    expect((await send(Readable.from([]), new ContentCheck("csv"))).statusCode).toBe(201);
    expect(arrivals).toHaveLength(1);
    expect(arrivals[0]?.body.length).toBe(0);
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(600)]);
    await expect(send(Readable.from([elf]), new ContentCheck("csv"))).rejects.toMatchObject({
      code: "unsupported_type",
    });
    expect(arrivals).toHaveLength(1);
    await expect(send(Readable.from([Buffer.alloc(2000, 0x61)]))).rejects.toBeInstanceOf(DepotError);
  });
});
