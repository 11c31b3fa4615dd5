import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * The idle rule both servers follow. There is no total request timeout (an upload may take hours); a connection
 * that sends nothing for `idleMs` while the server waits for it is closed instead. Once a request has arrived whole
 * and its answer has not started, the wait is the server's, not the client's (a tus upload's last PATCH joins all
 * its chunks, which on S3 can take minutes): such a connection is not idle, however long it is quiet.
 */
export function closeIdleConnections(server: Server, idleMs: number): void {
  const exchanges = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => exchanges.set(req.socket, { req, res }));
  server.setTimeout(idleMs, (socket: Socket) => {
    const exchange = exchanges.get(socket);
    // Not destroyed: the timer starts again with the answer's first bytes.
    if (exchange?.req.complete && !exchange.res.headersSent) return;
    socket.destroy();
  });
}
