import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { createAccessToken, setUserActive } from "@depot/db";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ADMIN, type CliStack, PEOPLE, runCli, startCliStack } from "./stack";

let stack: CliStack;
beforeAll(async () => {
  stack = await startCliStack();
});
afterAll(async () => {
  await stack?.stop();
});

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A file of random bytes written in 8 MiB pieces (never all in memory), and its sha256. */
function randomFile(dir: string, name: string, size: number): { path: string; sha256: string } {
  const path = join(dir, name);
  const hash = createHash("sha256");
  const fd = openSync(path, "w");
  for (let done = 0; done < size; ) {
    const piece = randomBytes(Math.min(8 * MiB, size - done));
    hash.update(piece);
    writeSync(fd, piece);
    done += piece.length;
  }
  closeSync(fd);
  return { path, sha256: hash.digest("hex") };
}

const home = () => mkdtempSync(join(stack.root, "home-"));

function multipart(cohortId: string, content: string) {
  const boundary = "----depottest";
  const body =
    `--${boundary}\r\nContent-Disposition: form-data; name="cohortId"\r\n\r\n${cohortId}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nsubmission\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.csv"\r\nContent-Type: text/csv\r\n\r\n${content}\r\n--${boundary}--\r\n`;
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

describe("personal access tokens on every /api route", () => {
  test("routes × permissions: a token does what its permission covers, in its cohort, never more than its owner", async () => {
    const managerCookie = await stack.signIn(PEOPLE.manager);
    const adminCookie = await stack.signIn(ADMIN);
    const { a } = stack.cohorts;
    const tokens = {
      read: (await stack.createToken(managerCookie, { name: "r", permission: "read" })).secret,
      download: (await stack.createToken(managerCookie, { name: "d", permission: "download" })).secret,
      upload: (await stack.createToken(managerCookie, { name: "u", permission: "upload" })).secret,
      admin: (await stack.createToken(adminCookie, { name: "admin-upload", permission: "upload" })).secret,
    };
    // A file in cohort A to read, download and (try to) delete.
    const seeded = multipart(a.id, "id,visit\n1,2\n");
    const put = await fetch(`${stack.webUrl}/api/uploads`, {
      method: "POST",
      headers: { cookie: managerCookie, "content-type": seeded.type },
      body: seeded.body,
    });
    expect(put.status).toBe(201);
    const fileId = ((await put.json()) as { id: string }).id;

    type Call = { name: string; run: (auth: string) => Promise<Response> };
    const withAuth = (token: string) => `Bearer ${token}`;
    const calls: Call[] = [
      { name: "GET /api/me", run: (h) => fetch(`${stack.webUrl}/api/me`, { headers: { authorization: h } }) },
      { name: "GET /api/cohorts", run: (h) => fetch(`${stack.webUrl}/api/cohorts`, { headers: { authorization: h } }) },
      { name: "GET /api/files", run: (h) => fetch(`${stack.webUrl}/api/files`, { headers: { authorization: h } }) },
      {
        name: "GET /api/files/:id",
        run: (h) => fetch(`${stack.webUrl}/api/files/${fileId}`, { headers: { authorization: h } }),
      },
      {
        name: "GET /api/files/:id/download",
        run: (h) => fetch(`${stack.webUrl}/api/files/${fileId}/download`, { headers: { authorization: h } }),
      },
      {
        name: "POST /api/uploads",
        run: (h) => {
          const m = multipart(a.id, "id,visit\n3,4\n");
          return fetch(`${stack.webUrl}/api/uploads`, {
            method: "POST",
            headers: { authorization: h, "content-type": m.type },
            body: m.body,
          });
        },
      },
      {
        name: "POST /api/uploads/tus/",
        run: (h) =>
          fetch(`${stack.webUrl}/api/uploads/tus/`, {
            method: "POST",
            headers: {
              authorization: h,
              "tus-resumable": "1.0.0",
              "upload-length": "10",
              "upload-metadata": `cohortId ${Buffer.from(a.id).toString("base64")},kind ${Buffer.from("submission").toString("base64")},filename ${Buffer.from("x.csv").toString("base64")}`,
            },
          }),
      },
      {
        name: "DELETE /api/files/:id",
        run: (h) => fetch(`${stack.webUrl}/api/files/${fileId}`, { method: "DELETE", headers: { authorization: h } }),
      },
      { name: "GET /api/tokens", run: (h) => fetch(`${stack.webUrl}/api/tokens`, { headers: { authorization: h } }) },
      {
        name: "POST /api/tokens",
        run: (h) =>
          fetch(`${stack.webUrl}/api/tokens`, {
            method: "POST",
            headers: { authorization: h, "content-type": "application/json" },
            body: JSON.stringify({ name: "escalate", permission: "upload" }),
          }),
      },
      {
        name: "GET /api/admin/users",
        run: (h) => fetch(`${stack.webUrl}/api/admin/users`, { headers: { authorization: h } }),
      },
      {
        name: "GET /api/admin/tokens",
        run: (h) => fetch(`${stack.webUrl}/api/admin/tokens`, { headers: { authorization: h } }),
      },
      { name: "GET /api/audit", run: (h) => fetch(`${stack.webUrl}/api/audit`, { headers: { authorization: h } }) },
      {
        name: "POST /api/maintenance/cleanup-preview",
        run: (h) =>
          fetch(`${stack.webUrl}/api/maintenance/cleanup-preview`, { method: "POST", headers: { authorization: h } }),
      },
    ];
    // Expected status per route for tokens read / download / upload (manager's) and upload (administrator's).
    const expected: Record<string, [number, number, number, number]> = {
      "GET /api/me": [200, 200, 200, 200],
      "GET /api/cohorts": [200, 200, 200, 200],
      "GET /api/files": [200, 200, 200, 200],
      "GET /api/files/:id": [200, 200, 200, 200],
      "GET /api/files/:id/download": [403, 200, 403, 403],
      "POST /api/uploads": [403, 403, 201, 201],
      "POST /api/uploads/tus/": [403, 403, 201, 201],
      "DELETE /api/files/:id": [403, 403, 403, 403],
      "GET /api/tokens": [403, 403, 403, 403],
      "POST /api/tokens": [403, 403, 403, 403],
      "GET /api/admin/users": [403, 403, 403, 403],
      "GET /api/admin/tokens": [403, 403, 403, 403],
      "GET /api/audit": [403, 403, 403, 403],
      "POST /api/maintenance/cleanup-preview": [403, 403, 403, 403],
    };
    const seen: Record<string, number[]> = {};
    for (const call of calls) {
      seen[call.name] = [];
      for (const token of [tokens.read, tokens.download, tokens.upload, tokens.admin]) {
        const res = await call.run(withAuth(token));
        await res.arrayBuffer();
        seen[call.name]!.push(res.status);
      }
    }
    expect(seen).toEqual(expected);
    // The same routes still work with the session: the file was not deleted by any token.
    const still = await fetch(`${stack.webUrl}/api/files/${fileId}`, { headers: { cookie: managerCookie } });
    expect(((await still.json()) as { status: string }).status).toBe("stored");
    // No Authorization at all, or a malformed one, is a 401 in the one error shape.
    const bad = await fetch(`${stack.webUrl}/api/cohorts`, { headers: { authorization: "Bearer nope" } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
  });

  test("a cohort scope limits what is seen and where bytes go; an owner's role caps the token", async () => {
    const managerCookie = await stack.signIn(PEOPLE.manager);
    const viewerCookie = await stack.signIn(PEOPLE.viewer);
    const { a, b } = stack.cohorts;
    const scoped = await stack.createToken(managerCookie, { name: "A only", permission: "upload", cohortId: a.id });
    const auth = { authorization: `Bearer ${scoped.secret}` };
    const cohorts = (await (await fetch(`${stack.webUrl}/api/cohorts`, { headers: auth })).json()) as {
      cohorts: { id: string }[];
    };
    expect(cohorts.cohorts.map((c) => c.id)).toEqual([a.id]);
    const toB = multipart(b.id, "id\n1\n");
    const refused = await fetch(`${stack.webUrl}/api/uploads`, {
      method: "POST",
      headers: { ...auth, "content-type": toB.type },
      body: toB.body,
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/token does not allow/);
    const files = (await (await fetch(`${stack.webUrl}/api/files?pageSize=200`, { headers: auth })).json()) as {
      files: { cohortId: string }[];
    };
    expect(files.files.every((f) => f.cohortId === a.id)).toBe(true);

    // A viewer cannot make an upload token for a cohort, and an unscoped one cannot upload either.
    const denied = await fetch(`${stack.webUrl}/api/tokens`, {
      method: "POST",
      headers: { cookie: viewerCookie, "content-type": "application/json" },
      body: JSON.stringify({ name: "v", permission: "upload", cohortId: a.id }),
    });
    expect(denied.status).toBe(403);
    const viewerUpload = await stack.createToken(viewerCookie, { name: "v-any", permission: "upload" });
    const m = multipart(a.id, "id\n1\n");
    const viewerTry = await fetch(`${stack.webUrl}/api/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${viewerUpload.secret}`, "content-type": m.type },
      body: m.body,
    });
    expect(viewerTry.status).toBe(403);
    // Expiry is at most a year.
    const tooLong = await fetch(`${stack.webUrl}/api/tokens`, {
      method: "POST",
      headers: { cookie: managerCookie, "content-type": "application/json" },
      body: JSON.stringify({ name: "forever", permission: "read", expiresInDays: 366 }),
    });
    expect(tooLong.status).toBe(400);
  });

  test("creation, each use (by request id) and revocation are audited, naming the token; the secret is stored hashed", async () => {
    const cookie = await stack.signIn(PEOPLE.manager);
    const made = await stack.createToken(cookie, { name: "audited", permission: "upload" });
    const m = multipart(stack.cohorts.a.id, "id\n9\n");
    const res = await fetch(`${stack.webUrl}/api/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${made.secret}`, "content-type": m.type },
      body: m.body,
    });
    expect(res.status).toBe(201);
    const fileId = ((await res.json()) as { id: string }).id;
    const revoke = await fetch(`${stack.webUrl}/api/tokens/${made.id}`, { method: "DELETE", headers: { cookie } });
    expect(revoke.status).toBe(200);
    const rows = await stack.sql<
      { action: string; request_id: string; metadata: Record<string, string>; file_id: string | null }[]
    >`
      select action, request_id, metadata, file_id from phi_file_tracking
      where metadata->>'tokenId' = ${made.id} order by id`;
    expect(rows.map((r) => r.action)).toEqual(["token_created", "token_used", "stream_upload", "token_revoked"]);
    expect(rows.every((r) => r.metadata.tokenName === "audited")).toBe(true);
    const [, used, upload] = rows;
    expect(used!.request_id).toBe(upload!.request_id);
    expect(upload!.file_id).toBe(fileId);
    // The database has the hash, never the secret.
    const stored = await stack.sql<
      { token_hash: string }[]
    >`select token_hash from access_tokens where id = ${made.id}`;
    expect(stored[0]!.token_hash).toBe(sha256(Buffer.from(made.secret)));
    const everywhere = await stack.sql<{ n: number }[]>`
      select count(*)::int as n from phi_file_tracking where metadata::text like ${`%${made.secret}%`}`;
    expect(everywhere[0]!.n).toBe(0);
  });

  test("administrators list and revoke anyone's tokens; a deactivated owner's token stops working", async () => {
    const managerCookie = await stack.signIn(PEOPLE.manager);
    const adminCookie = await stack.signIn(ADMIN);
    const viewerCookie = await stack.signIn(PEOPLE.viewer);
    const made = await stack.createToken(managerCookie, { name: "admin will revoke", permission: "read" });
    const all = (await (
      await fetch(`${stack.webUrl}/api/admin/tokens`, { headers: { cookie: adminCookie } })
    ).json()) as {
      tokens: { id: string; ownerEmail: string }[];
    };
    expect(all.tokens.find((t) => t.id === made.id)?.ownerEmail).toBe(PEOPLE.manager.email);
    // Someone else's token is not found for a member…
    const stranger = await fetch(`${stack.webUrl}/api/tokens/${made.id}`, {
      method: "DELETE",
      headers: { cookie: viewerCookie },
    });
    expect(stranger.status).toBe(404);
    // …and revoked by an administrator.
    const revoked = await fetch(`${stack.webUrl}/api/tokens/${made.id}`, {
      method: "DELETE",
      headers: { cookie: adminCookie },
    });
    expect(((await revoked.json()) as { token: { state: string } }).token.state).toBe("revoked");
    const after = await fetch(`${stack.webUrl}/api/cohorts`, { headers: { authorization: `Bearer ${made.secret}` } });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { error: { message: string } }).error.message).toMatch(/revoked/);

    const viewerToken = await stack.createToken(viewerCookie, { name: "viewer read", permission: "read" });
    const ok = await fetch(`${stack.webUrl}/api/cohorts`, {
      headers: { authorization: `Bearer ${viewerToken.secret}` },
    });
    expect(ok.status).toBe(200);
    await setUserActive(stack.db, stack.users.viewer.id, false);
    try {
      const off = await fetch(`${stack.webUrl}/api/cohorts`, {
        headers: { authorization: `Bearer ${viewerToken.secret}` },
      });
      expect(off.status).toBe(401);
      expect(((await off.json()) as { error: { message: string } }).error.message).toMatch(/deactivated/);
    } finally {
      await setUserActive(stack.db, stack.users.viewer.id, true);
    }
  });
});

describe("the depot CLI, packed and installed with npm i -g", () => {
  test("login stores the token with mode 0600; cohorts and whoami use it; every command has --help", async () => {
    const cookie = await stack.signIn(PEOPLE.manager);
    const token = await stack.createToken(cookie, { name: "cli login", permission: "upload" });
    const h = home();
    const login = await runCli(stack, h, ["login", "--url", stack.webUrl, "--json"], { input: `${token.secret}\n` });
    expect(login.code, login.stderr).toBe(0);
    const config = join(h, ".config", "depot", "config.json");
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(config, "utf8"))).toEqual({ url: stack.webUrl, token: token.secret });
    const cohorts = await runCli(stack, h, ["cohorts", "--json"]);
    expect(cohorts.code, cohorts.stderr).toBe(0);
    expect((JSON.parse(cohorts.stdout) as { cohorts: { name: string }[] }).cohorts.map((c) => c.name)).toEqual([
      "Demo Cohort A",
      "Demo Cohort B",
    ]);
    const who = await runCli(stack, h, ["whoami"]);
    expect(who.stdout).toContain(PEOPLE.manager.email);
    for (const command of ["login", "logout", "whoami", "cohorts", "upload", "ls", "download", "verify"]) {
      const help = await runCli(stack, h, [command, "--help"]);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain("--json");
    }
  });

  test("a 200 MiB upload killed at about 40 % resumes from the server's offset with an equal sha256; download and verify agree", async () => {
    const cookie = await stack.signIn(PEOPLE.manager);
    const token = await stack.createToken(cookie, { name: "cron", permission: "upload", cohortId: stack.cohorts.a.id });
    const h = home();
    const size = 200 * MiB;
    const file = randomFile(h, "extract.csv", size);
    const env = { DEPOT_TOKEN: token.secret };
    const args = ["upload", file.path, "--cohort", "demo cohort a", "--kind", "submission", "--json"];

    // At the 40 % line, a moment later (inside a chunk), read how many bytes the CLI has written to its
    // sockets (/proc/<pid>/io wchar: an upper bound of what reached the server) and kill it at once.
    let sentAtKill = 0;
    let killing = false;
    const first = await runCli(stack, h, args, {
      env,
      onStderr: (text, child) => {
        const last = [...text.matchAll(/ (\d+)\/(\d+) bytes/g)].at(-1);
        if (!last || killing || Number(last[1]) < 0.4 * size) return;
        killing = true;
        setTimeout(() => {
          const io = readFileSync(`/proc/${child.pid}/io`, "utf8");
          sentAtKill = Number(/^wchar: (\d+)$/m.exec(io)?.[1]);
          child.kill("SIGKILL");
        }, 200);
      },
    });
    expect(first.signal, first.stderr).toBe("SIGKILL");
    expect(sentAtKill).toBeGreaterThan(0.39 * size);
    expect(sentAtKill).toBeLessThan(0.6 * size);
    const state = readFileSync(join(h, ".local", "state", "depot", "uploads.json"), "utf8");
    expect(state).toContain("/api/uploads/tus/");
    expect(state.length).toBeLessThan(10_000); // upload URLs, never file bytes

    const second = await runCli(stack, h, args, { env });
    expect(second.code, second.stderr + second.stdout).toBe(0);
    const result = JSON.parse(second.stdout) as {
      uploaded: { id: string; sha256: string; size: number; resumedFrom: number; sent: number }[];
    };
    const done = result.uploaded[0]!;
    expect(done.sha256).toBe(file.sha256);
    expect(done.size).toBe(size);
    expect(done.resumedFrom).toBeGreaterThan(0.3 * size);
    console.log(
      `resume: killed after ${sentAtKill} bytes sent (${((sentAtKill / size) * 100).toFixed(1)} %), ` +
        `resumed from ${done.resumedFrom}, re-sent ${sentAtKill - done.resumedFrom} bytes`,
    );
    // What the first run had sent past the offset the second run resumed from: re-sent bytes.
    expect(sentAtKill - done.resumedFrom).toBeLessThan(10 * MiB);
    expect(done.sent).toBe(size - done.resumedFrom);
    // Finished uploads leave no state behind.
    expect(readFileSync(join(h, ".local", "state", "depot", "uploads.json"), "utf8")).not.toContain(
      "/api/uploads/tus/",
    );

    const ls = await runCli(stack, h, ["ls", "--json", "--cohort", stack.cohorts.a.id], { env });
    const listed = (JSON.parse(ls.stdout) as { files: { id: string; sha256: string }[] }).files;
    expect(listed.find((f) => f.id === done.id)?.sha256).toBe(file.sha256);

    // verify: equal, then a file that differs by one byte (exit 4).
    const verify = await runCli(stack, h, ["verify", done.id, file.path, "--json"], { env });
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ match: true });
    const other = join(h, "other.csv");
    writeFileSync(other, "not the same\n");
    const differs = await runCli(stack, h, ["verify", done.id, other], { env });
    expect(differs.code).toBe(4);
    expect(differs.stdout).toContain("does NOT match");

    // download needs a download permission: the upload token is refused with a clear message.
    const refused = await runCli(stack, h, ["download", done.id, "-o", join(h, "copy.csv")], { env });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/token does not allow download/);
    const reader = await stack.createToken(cookie, { name: "fetch", permission: "download" });
    // A partial file left by an interrupted download is continued with Range, and the whole is verified.
    const out = join(h, "copy.csv");
    const head = Buffer.alloc(5 * MiB);
    const fd = openSync(file.path, "r");
    readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    writeFileSync(`${out}.depot-part`, head);
    const download = await runCli(stack, h, ["download", done.id, "-o", out, "--json"], {
      env: { DEPOT_TOKEN: reader.secret },
    });
    expect(download.code, download.stderr).toBe(0);
    expect(JSON.parse(download.stdout)).toMatchObject({
      sha256: file.sha256,
      size,
      resumedFrom: 5 * MiB,
      verified: true,
    });
    expect(existsSync(`${out}.depot-part`)).toBe(false);
    expect(statSync(out).size).toBe(size);
  });

  test("a revoked or expired token gives a clear message and exit code 3", async () => {
    const cookie = await stack.signIn(PEOPLE.manager);
    const h = home();
    const small = join(h, "small.csv");
    writeFileSync(small, "id,visit\n1,2\n");
    const revokedToken = await stack.createToken(cookie, { name: "to revoke", permission: "upload" });
    await fetch(`${stack.webUrl}/api/tokens/${revokedToken.id}`, { method: "DELETE", headers: { cookie } });
    const revoked = await runCli(stack, h, ["upload", small, "--cohort", "Demo Cohort A", "--kind", "precheck"], {
      env: { DEPOT_TOKEN: revokedToken.secret },
    });
    expect(revoked.code).toBe(3);
    expect(revoked.stderr).toContain('the token was refused: this personal access token ("to revoke") was revoked');

    // An expired token (made directly in the database: the API never makes one in the past).
    const secret = `depot_pat_${randomBytes(32).toString("base64url")}`;
    await createAccessToken(stack.db, {
      userId: stack.users.manager.id,
      name: "old",
      tokenHash: sha256(Buffer.from(secret)),
      tokenPrefix: secret.slice(0, 16),
      cohortId: null,
      permission: "upload",
      expiresAt: new Date(Date.now() - 60_000),
    });
    const expired = await runCli(stack, h, ["cohorts", "--json"], { env: { DEPOT_TOKEN: secret } });
    expect(expired.code).toBe(3);
    expect(JSON.parse(expired.stdout)).toEqual({
      error: { code: "unauthorized", message: expect.stringMatching(/token \("old"\) expired on/) },
    });
  });
});
