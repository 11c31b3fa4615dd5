import { randomUUID } from "node:crypto";
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { TUS_VERSION } from "@depot/contract";
import { closeGracefullyAfterEarlyAnswers } from "@depot/contract/connection";
import { createUser, ensureCohort, type MembershipRole, setMembership, type User } from "@depot/db";
import { startTestStorage, TEST_API_KEY } from "@depot/storage/test-server";
import { inRequest } from "./next-headers";

/*
 * The web's route handlers against real parts: a storage service (in process, its own fresh database and disk
 * folder), the same database for the web, and between them a small HTTP relay the test controls, so it can take
 * storage away (nothing listens on its port), break one connection, or count what reached storage.
 * next/headers must be replaced by ./next-headers in the test file (vi.mock), and this module imported after it.
 */

export const PUBLIC_URL = "http://localhost:3000";

type Rule = (req: IncomingMessage) => "pass" | "reset";

/** node:http between the web and storage: forwards each request as it comes, unless a rule says to reset it. */
export class StorageRelay {
  readonly seen: { method: string; path: string; bytes: number }[] = [];
  private rule: Rule = () => "pass";
  private server: Server;
  port = 0;

  constructor(private readonly target: URL) {
    this.server = createServer((req, res) => {
      const entry = { method: req.method ?? "", path: req.url ?? "", bytes: 0 };
      this.seen.push(entry);
      req.on("data", (chunk: Buffer) => {
        entry.bytes += chunk.length;
      });
      if (this.rule(req) === "reset") {
        // Let the first body bytes arrive (a body the web started sending), then cut before any answer.
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      let answered = false;
      const upstream = httpRequest(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          answered = true;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.on("aborted", () => res.destroy());
          answer.pipe(res);
        },
      );
      // Before storage answered, a broken connection is the web's to see. After, it is storage refusing early
      // (a 409 while the body still comes) and closing: the answer is on its way, only the forwarding stops.
      upstream.on("error", () => {
        if (!answered) res.destroy();
        else req.unpipe(upstream);
      });
      req.pipe(upstream);
    });
    // The relay answers early too (storage's early refusal) while the web still sends: it must reach the web.
    closeGracefullyAfterEarlyAnswers(this.server);
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Nothing listens on the port any more: every connection from the web is refused. */
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Resets the first `count` requests that `matches` picks (before any answer), then passes the rest. */
  resetNext(matches: (req: IncomingMessage) => boolean, count = 1): void {
    let left = count;
    this.rule = (req) => {
      if (left > 0 && matches(req)) {
        left--;
        return "reset";
      }
      return "pass";
    };
  }

  passAll(): void {
    this.rule = () => "pass";
  }
}

export type Handler<C> = (req: Request, context: C) => Promise<Response> | Response;

export async function startWebStack() {
  const storage = await startTestStorage();
  const relay = new StorageRelay(new URL(storage.url));
  await relay.start();
  // The web reads its configuration once, on first use: it points at the relay, on storage's database.
  Object.assign(process.env, {
    INTERNAL_API_KEY: TEST_API_KEY,
    SERVICES_URL: relay.url,
    DATABASE_URL: storage.databaseUrl,
    AUTH_SECRET: "a-test-secret-of-at-least-32-characters",
    PUBLIC_URL,
  });
  const { POST: signInRoute } = await import("@/app/api/session/route");

  const stack = {
    storage,
    relay,
    db: storage.db,

    /** A request as server.ts hands it to Next (client address and request id set), with the session cookie. */
    request(
      method: string,
      path: string,
      init: { cookie?: string; headers?: Record<string, string>; body?: BodyInit | Uint8Array } = {},
    ) {
      return new Request(`${PUBLIC_URL}${path}`, {
        method,
        headers: {
          "x-depot-client-ip": "127.0.0.1",
          "x-depot-request-id": randomUUID(),
          ...(init.cookie ? { cookie: init.cookie } : {}),
          ...init.headers,
        },
        body: init.body as BodyInit | undefined,
        ...(init.body ? { duplex: "half" } : {}),
      } as RequestInit);
    },

    /** Calls a route handler the way Next does: next/headers answers from `req`. */
    call<C = undefined>(handler: Handler<C>, req: Request, context?: C): Promise<Response> {
      return inRequest(req, async () => handler(req, context as C));
    },

    /** Signs in through POST /api/session and returns the Cookie header its Set-Cookie gives. */
    async signIn(email: string, password: string): Promise<string> {
      const req = stack.request("POST", "/api/session", {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password }),
      });
      const res = await stack.call(signInRoute, req);
      if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
      const setCookie = res.headers.get("set-cookie") ?? "";
      return setCookie.split(";")[0] ?? "";
    },

    /** A person with a password, a member of `cohortId` with `role` when given, signed in: user and cookie. */
    async person(name: string, options: { cohortId?: string; role?: MembershipRole; administrator?: boolean } = {}) {
      const email = `${name}-${randomUUID().slice(0, 8)}@example.org`;
      const password = `${name}-password-123`;
      const user: User = await createUser(storage.db, {
        email,
        name,
        password,
        ...(options.administrator ? { role: "administrator" as const } : {}),
      });
      if (options.cohortId) {
        await setMembership(storage.db, {
          userId: user.id,
          cohortId: options.cohortId,
          role: options.role ?? "manager",
        });
      }
      return { user, email, password, cookie: await stack.signIn(email, password) };
    },

    cohort: async (name: string) => (await ensureCohort(storage.db, { name })).cohort,

    async stop() {
      await relay.stop().catch(() => {});
      await storage.stop();
    },
  };
  return stack;
}

export type WebStack = Awaited<ReturnType<typeof startWebStack>>;

/** A multipart body as the upload page sends it: the fields, then the one file. */
export function multipartBody(fields: Record<string, string>, filename: string, data: Buffer) {
  const boundary = `----depot${randomUUID()}`;
  const parts = Object.entries(fields).map(
    ([name, value]) => `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  const head = `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\ncontent-type: text/csv\r\n\r\n`;
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([Buffer.from(parts.join("") + head), data, Buffer.from(`\r\n--${boundary}--\r\n`)]),
  };
}

/** tus Upload-Metadata: each value base64. */
export const tusMetadata = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([key, value]) => `${key} ${Buffer.from(value).toString("base64")}`)
    .join(",");

/** The route context Next passes a handler with one dynamic segment, or the tus catch-all. */
export const idParams = (id: string) => ({ params: Promise.resolve({ id }) });
export const tusParams = (id?: string) => ({ params: Promise.resolve(id ? { path: [id] } : {}) });

const TUS = { "tus-resumable": TUS_VERSION };
const OCTETS = "application/offset+octet-stream";

/**
 * The byte path's routes (upload, tus, download, delete) called as one signed-in person would, with their real
 * handlers; each call answers the handler's Response. Imported here, after the test file's next/headers mock.
 */
export async function bytePathAs(stack: WebStack, cookie: string, cohortId: string) {
  const uploads = await import("@/app/api/uploads/route");
  const tus = await import("@/app/api/uploads/tus/[[...path]]/route");
  const download = await import("@/app/api/files/[id]/download/route");
  const files = await import("@/app/api/files/[id]/route");
  return {
    upload(data: Buffer, name: string) {
      const { body, contentType } = multipartBody({ cohortId, kind: "submission" }, name, data);
      return stack.call(
        uploads.POST,
        stack.request("POST", "/api/uploads", { cookie, headers: { "content-type": contentType }, body }),
      );
    },
    /** A tus creation, with creation-with-upload when there is a body. */
    createTus(length: number, filename: string, body?: Buffer) {
      return stack.call(
        tus.POST,
        stack.request("POST", "/api/uploads/tus/", {
          cookie,
          headers: {
            ...TUS,
            "upload-length": String(length),
            "upload-metadata": tusMetadata({ cohortId, kind: "submission", filename }),
            ...(body ? { "content-type": OCTETS } : {}),
          },
          body,
        }),
        tusParams(),
      );
    },
    headTus(uploadId: string) {
      return stack.call(
        tus.HEAD,
        stack.request("HEAD", `/api/uploads/tus/${uploadId}`, { cookie, headers: TUS }),
        tusParams(uploadId),
      );
    },
    patchTus(uploadId: string, offset: number, body: Buffer | ReadableStream<Uint8Array>) {
      return stack.call(
        tus.PATCH,
        stack.request("PATCH", `/api/uploads/tus/${uploadId}`, {
          cookie,
          headers: { ...TUS, "upload-offset": String(offset), "content-type": OCTETS },
          body,
        }),
        tusParams(uploadId),
      );
    },
    download(id: string, headers: Record<string, string> = {}) {
      return stack.call(
        download.GET,
        stack.request("GET", `/api/files/${id}/download`, { cookie, headers }),
        idParams(id),
      );
    },
    remove(id: string) {
      return stack.call(files.DELETE, stack.request("DELETE", `/api/files/${id}`, { cookie }), idParams(id));
    },
  };
}
