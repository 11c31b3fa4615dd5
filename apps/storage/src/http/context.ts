import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HEADER } from "@depot/contract";
import type { AuditActor, Database } from "@depot/db";
import type { Disks } from "../drivers";
import type { StorageEnv } from "../env";

export interface StorageContext {
  env: StorageEnv;
  db: Database;
  disks: Disks;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  requestId: string;
  actor: AuditActor;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** The request id and actor the web tier forwarded, so both tiers' audit rows join on one id. */
export function requestContext(req: IncomingMessage, res: ServerResponse): RequestContext {
  const given = header(req, HEADER.requestId);
  return {
    req,
    res,
    url: new URL(req.url ?? "/", "http://storage.internal"),
    requestId: given && REQUEST_ID.test(given) ? given : randomUUID(),
    actor: {
      userId: header(req, HEADER.actorUserId) ?? null,
      ip: header(req, HEADER.actorIp) ?? req.socket.remoteAddress ?? null,
      userAgent: header(req, HEADER.actorUserAgent) ?? null,
    },
  };
}
