import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HEADER } from "@depot/contract";
import { type AuditActor, type AuditEntry, appendAudit, type Database, type Queryable } from "@depot/db";
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
  /** Appends an audit row for this request (server role services, its request id and actor). */
  audit(entry: Omit<AuditEntry, "serverRole" | "requestId" | "actor">, db?: Queryable): Promise<unknown>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** The request id and actor the web tier forwarded, so both tiers' audit rows join on one id. */
export function requestContext(ctx: StorageContext, req: IncomingMessage, res: ServerResponse): RequestContext {
  const given = header(req, HEADER.requestId);
  const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
  const actor: AuditActor = {
    userId: header(req, HEADER.actorUserId) ?? null,
    ip: header(req, HEADER.actorIp) ?? req.socket.remoteAddress ?? null,
    userAgent: header(req, HEADER.actorUserAgent) ?? null,
  };
  return {
    req,
    res,
    url: new URL(req.url ?? "/", "http://storage.internal"),
    requestId,
    actor,
    audit: (entry, db = ctx.db) => appendAudit(db, { ...entry, serverRole: "services", requestId, actor }),
  };
}
