import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, expect, test } from "vitest";
import { closeIdleConnections } from "./idle";

const IDLE_MS = 200;
let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<number> {
  server = createServer(handler);
  closeIdleConnections(server, IDLE_MS);
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** Sends `raw` on a fresh connection; resolves with everything received once the server closes it. */
function exchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(raw));
    let received = "";
    socket.on("data", (data) => {
      received += data.toString("latin1");
    });
    socket.on("close", () => resolve(received));
    socket.on("error", reject);
  });
}

test("a client that stops sending its body is disconnected without an answer", async () => {
  const port = await listen((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  const received = await exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
  expect(received).toBe("");
});

test("a request that arrived whole waits as long as the server needs to start its answer", async () => {
  const port = await listen((req, res) => {
    req.resume();
    req.on("end", async () => {
      await sleep(IDLE_MS * 4);
      res.setHeader("connection", "close");
      res.end("done");
    });
  });
  const received = await exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n12345");
  expect(received).toMatch(/^HTTP\/1\.1 200 OK/);
  expect(received.endsWith("done")).toBe(true);
});

test("an answer that stops moving once started is idle again and the connection is closed", async () => {
  const port = await listen(async (req, res) => {
    req.resume();
    res.writeHead(200, { "content-length": "10" });
    res.write("12345");
    await sleep(IDLE_MS * 4);
    if (!res.destroyed) res.end("67890");
  });
  const received = await exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  expect(received).toMatch(/^HTTP\/1\.1 200 OK/);
  expect(received.endsWith("12345")).toBe(true);
});
