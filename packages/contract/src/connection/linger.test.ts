import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterEach, expect, test } from "vitest";
import { closeGracefullyAfterEarlyAnswers } from "./linger";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  server = createServer(handler);
  closeGracefullyAfterEarlyAnswers(server, 1_000);
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

const refusal = JSON.stringify({ error: { code: "disk_full", message: "the disk is full" } });

function refuse(res: ServerResponse): void {
  res.writeHead(507, { "content-type": "application/json", "content-length": Buffer.byteLength(refusal) });
  res.end(refusal);
}

/**
 * Announces a 64 MiB body and sends it as fast as the connection takes it. Resolves with what came back before the
 * server ended the connection (its FIN), or before a reset if that came first.
 */
function uploadWithoutPause(port: number): Promise<{ received: string; endedCleanly: boolean }> {
  return new Promise((resolve) => {
    const chunk = Buffer.alloc(256 * 1024, 120);
    let received = "";
    let done = false;
    const finish = (endedCleanly: boolean) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ received, endedCleanly });
    };
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`);
      const pump = () => {
        while (!done && socket.writable && socket.write(chunk)) {}
        if (!done && socket.writable) socket.once("drain", pump);
      };
      pump();
    });
    socket.on("data", (data) => {
      received += data.toString("latin1");
    });
    socket.on("end", () => finish(true));
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
  });
}

test("a refusal sent while the body still arrives reaches a client that keeps sending, then the server closes", async () => {
  const port = await listen((req, res) => {
    req.once("data", () => refuse(res));
  });
  const { received, endedCleanly } = await uploadWithoutPause(port);
  expect(received).toMatch(/^HTTP\/1\.1 507 /);
  expect(received.toLowerCase()).toContain("connection: close");
  expect(received.endsWith(refusal)).toBe(true);
  expect(endedCleanly).toBe(true);
});

test("a handler that gives up on the body (destroys the request) still gets its answer to the client", async () => {
  const port = await listen((req, res) => {
    req.once("data", () => {
      req.destroy();
      setTimeout(() => refuse(res), 50);
    });
  });
  const { received, endedCleanly } = await uploadWithoutPause(port);
  expect(received).toMatch(/^HTTP\/1\.1 507 /);
  expect(received.endsWith(refusal)).toBe(true);
  expect(endedCleanly).toBe(true);
});

test("an answer after the whole body keeps the connection open for the next request", async () => {
  const port = await listen((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  const received = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      const request = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n12345";
      socket.write(request + request);
    });
    let text = "";
    socket.on("data", (data) => {
      text += data.toString("latin1");
      if (text.split("HTTP/1.1 200 OK").length === 3 && text.endsWith("ok")) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on("error", reject);
  });
  expect(received.toLowerCase()).not.toContain("connection: close");
});
