import type { IncomingMessage, Server, ServerResponse } from "node:http";

/**
 * How both servers end an exchange whose answer goes out before the request body has arrived (a refusal, an upload
 * that failed midway), so that the answer reaches a client that is still sending.
 *
 * Node's own way loses it: the exchange ends with the socket destroyed while the client's bytes are still unread (and
 * a handler that gives up on the body destroys the request, which destroys the socket before the answer is even
 * written). The kernel answers those bytes with a reset, and the client, busy sending, may see "connection reset" or
 * EPIPE instead of, say, 507 disk full. Here it ends as nginx's lingering close does: the answer says
 * `Connection: close` (the rest of the body is never read, so the connection cannot serve another request), the
 * connection survives the request stream being given up, and after the answer the server
 * half-closes and discards what the client still sends for up to `lingerMs` before closing.
 */
export function closeGracefullyAfterEarlyAnswers(server: Server, lingerMs = 2_000): void {
  // First in line, so that an answer the handler writes at once is covered too.
  server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    if (req.complete) return;
    keepConnectionForTheAnswer(req, res);
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: Parameters<typeof writeHead>) {
      if (!req.complete && !this.headersSent) this.setHeader("connection", "close");
      return writeHead.apply(this, args);
    } as typeof writeHead;
    const socket = req.socket;
    const destroySoon = socket.destroySoon;
    // Node calls destroySoon() once a `Connection: close` answer is written.
    socket.destroySoon = () => {
      if (req.complete) return destroySoon.call(socket);
      req.unpipe();
      req.resume();
      socket.end();
      setTimeout(() => socket.destroy(), lingerMs).unref();
    };
  });
}

/** A handler that destroys the request while its answer is still to come ends the request stream, not the socket. */
function keepConnectionForTheAnswer(req: IncomingMessage, res: ServerResponse): void {
  const destroy = req._destroy.bind(req);
  req._destroy = (error, callback) => {
    if (res.writableFinished || req.socket.destroyed) return destroy(error, callback);
    callback(req.listenerCount("error") > 0 ? error : null);
  };
}
