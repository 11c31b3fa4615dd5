import {
  createDb,
  createUser,
  type Database,
  ensureCohort,
  findUserById,
  phiFileTracking,
  type User,
  verifyAuditChain,
  verifyPassword,
} from "@depot/db";
import { createTestDatabase, type TestDatabase } from "@depot/db/testing";
import { desc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";

// The route handlers run for real against a test database, and so do sessions: each person signs in through
// POST /api/session and every request carries the cookie it set, read by lib/session as in production (only
// next/headers is given the request, as Next would; the pool is the test database's).
const state = vi.hoisted(() => ({ db: null as unknown as Database }));
vi.mock("@/lib/db", () => ({ db: () => state.db }));
vi.mock("next/headers", () => import("@/lib/testing/next-headers"));
Object.assign(process.env, {
  INTERNAL_API_KEY: "an-internal-key-for-these-tests",
  SERVICES_URL: "http://127.0.0.1:9",
  AUTH_SECRET: "a-test-secret-of-at-least-32-characters",
});
const { inRequest } = await import("@/lib/testing/next-headers");
type Handler<C> = (req: Request, context: C) => Promise<Response>;
/** A route handler called as Next calls it: next/headers answers from the request it is given. */
const inNext =
  <C>(handler: Handler<C>) =>
  (req: Request, context?: C) =>
    inRequest(req, () => handler(req, context as C));
const signInRoute = inNext((await import("../session/route")).POST);
const exportAudit = inNext((await import("../audit/export/route")).GET);
const getAudit = inNext((await import("../audit/route")).GET);
const { GET: getCohortsRoute, POST: postCohortRoute } = await import("./cohorts/route");
const [getCohorts, postCohort] = [inNext(getCohortsRoute), inNext(postCohortRoute)];
const { DELETE: deleteMembershipRoute, PUT: putMembershipRoute } = await import("./memberships/route");
const [deleteMembership, putMembership] = [inNext(deleteMembershipRoute), inNext(putMembershipRoute)];
const patchUser = inNext((await import("./users/[id]/route")).PATCH);
const { GET: getUsersRoute, POST: postUserRoute } = await import("./users/route");
const [getUsers, postUser] = [inNext(getUsersRoute), inNext(postUserRoute)];

let database: TestDatabase;
let close: () => Promise<void>;
let admin: User;
let member: User;

beforeAll(async () => {
  database = await createTestDatabase();
  process.env.DATABASE_URL ??= database.url; // the web's configuration needs one; its pool is replaced above
  const handle = createDb(database.url, { max: 4 });
  state.db = handle.db;
  close = handle.close;
  admin = await createUser(state.db, {
    email: "admin@example.org",
    name: "Admin",
    password: "admin-password-1",
    role: "administrator",
  });
  member = await createUser(state.db, { email: "member@example.org", name: "Member", password: "member-password" });
  passwords.set(admin.id, "admin-password-1").set(member.id, "member-password");
});
afterAll(async () => {
  await close();
  await database.drop();
});

/** Each person's password as the tests last set it, and the session cookie the requests now carry. */
const passwords = new Map<string, string>();
let cookie: string | null = null;

/** Signs `user` in through POST /api/session; the cookie it sets is the one real session code will read. */
async function signIn(user: User): Promise<string> {
  const res = await signInRoute(
    new Request("http://localhost/api/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: user.email, password: passwords.get(user.id) }),
    }),
  );
  expect(res.status, await res.clone().text()).toBe(200);
  return (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
}

/** The requests that follow are made by `user` (signed in now), or with no session at all. */
const as = async (user: User | null) => {
  cookie = user ? await signIn(user) : null;
};
const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  new Request(`http://localhost${path}`, {
    method,
    headers: { "content-type": "application/json", ...(cookie ? { cookie } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const params = (id: string) => ({ params: Promise.resolve({ id }) });
const lastAudit = async () =>
  (await state.db.select().from(phiFileTracking).orderBy(desc(phiFileTracking.id)).limit(1))[0];
const auditText = async () =>
  JSON.stringify(await state.db.select().from(phiFileTracking), (_k, v) => (typeof v === "bigint" ? v.toString() : v));

describe("access", () => {
  test("401 without a session, 403 for a member, and the refusals are audited", async () => {
    await as(null);
    const anonymous = await getUsers(request("GET", "/api/admin/users"));
    expect(anonymous.status).toBe(401);
    await as(member);
    const res = await postCohort(request("POST", "/api/admin/cohorts", { name: "Sneaky" }));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: { code: "forbidden", message: "administrators only" } });
    expect(await lastAudit()).toMatchObject({
      action: "access_denied",
      outcome: "denied",
      serverRole: "web",
      actorUserId: member.id,
      metadata: { route: "admin_cohorts", method: "POST" },
    });
    expect((await getAudit(request("GET", "/api/audit"))).status).toBe(403);
    expect((await exportAudit(request("GET", "/api/audit/export"))).status).toBe(403);
  });

  test("a cross-site request is refused before anything changes", async () => {
    await as(admin);
    const res = await postCohort(
      request("POST", "/api/admin/cohorts", { name: "Cross" }, { "sec-fetch-site": "cross-site" }),
    );
    expect(res.status).toBe(403);
    expect((await (await getCohorts(request("GET", "/api/admin/cohorts"))).json()).cohorts).toEqual([]);
  });
});

describe("users", () => {
  test("create, list, refuse duplicates and short passwords; no password in the trail", async () => {
    await as(admin);
    const body = { email: "New@Example.org", name: "New", password: "new-user-password", role: "member" };
    const res = await postUser(request("POST", "/api/admin/users", body));
    expect(res.status).toBe(201);
    const { user } = await res.json();
    expect(user).toMatchObject({ email: "new@example.org", role: "member", isActive: true, memberships: [] });
    expect(user).not.toHaveProperty("passwordHash");
    expect(await lastAudit()).toMatchObject({
      action: "user_created",
      outcome: "success",
      actorUserId: admin.id,
      metadata: { userId: user.id, email: "new@example.org", role: "member" },
    });

    const again = await postUser(request("POST", "/api/admin/users", { ...body, email: "new@EXAMPLE.org" }));
    expect(again.status).toBe(409);
    expect((await again.json()).error.code).toBe("conflict");

    const short = await postUser(
      request("POST", "/api/admin/users", { ...body, email: "b@x.org", password: "short-pw" }),
    );
    expect(short.status).toBe(400);
    expect(JSON.stringify(await short.json())).not.toContain("short-pw");
    const badRole = await postUser(request("POST", "/api/admin/users", { ...body, email: "c@x.org", role: "root" }));
    expect(badRole.status).toBe(400);
    expect((await postUser(request("POST", "/api/admin/users", { email: "x" }))).status).toBe(400);

    const list = await (await getUsers(request("GET", "/api/admin/users"))).json();
    expect(list.users.map((u: { email: string }) => u.email)).toEqual([
      "admin@example.org",
      "member@example.org",
      "new@example.org",
    ]);
    expect(await auditText()).not.toContain("new-user-password");
  });

  test("an administrator cannot deactivate or demote themself", async () => {
    await as(admin);
    const res = await patchUser(request("PATCH", `/api/admin/users/${admin.id}`, { active: false }), params(admin.id));
    expect(res.status).toBe(403);
    expect((await res.json()).error.message).toMatch(/your own account/);
    const demote = await patchUser(
      request("PATCH", `/api/admin/users/${admin.id}`, { role: "member" }),
      params(admin.id),
    );
    expect(demote.status).toBe(403);
    expect((await findUserById(state.db, admin.id))?.isActive).toBe(true);
  });

  test("… whatever the letter case of their own id (the guard compares canonical ids)", async () => {
    await as(admin);
    const upper = admin.id.toUpperCase();
    const before = await auditText();
    const off = await patchUser(request("PATCH", `/api/admin/users/${upper}`, { active: false }), params(upper));
    expect(off.status).toBe(403);
    const demote = await patchUser(request("PATCH", `/api/admin/users/${upper}`, { role: "member" }), params(upper));
    expect(demote.status).toBe(403);
    expect(await findUserById(state.db, admin.id)).toMatchObject({ isActive: true, role: "administrator" });
    expect(await lastAudit()).toMatchObject({ action: "access_denied", metadata: { route: "admin_user_update" } });
    expect((await auditText()).length).toBeGreaterThan(before.length);
  });

  test("every change that must sign someone out raises their session version", async () => {
    await as(admin);
    const version = async () => (await findUserById(state.db, member.id))!.sessionVersion;
    const patch = (body: unknown) =>
      patchUser(request("PATCH", `/api/admin/users/${member.id}`, body), params(member.id));
    const cohort = (await ensureCohort(state.db, { name: "Versioned" })).cohort;
    const membership = (method: "PUT" | "DELETE", body: unknown) =>
      (method === "PUT" ? putMembership : deleteMembership)(request(method, "/api/admin/memberships", body));
    const steps: [string, () => Promise<unknown>, boolean][] = [
      ["deactivation", () => patch({ active: false }), true],
      ["reactivation", () => patch({ active: true }), true],
      ["role change", () => patch({ role: "administrator" }), true],
      ["role back", () => patch({ role: "member" }), true],
      [
        "password reset",
        () => patch({ password: "another-password-7" }).then(() => passwords.set(member.id, "another-password-7")),
        true,
      ],
      ["membership added", () => membership("PUT", { userId: member.id, cohortId: cohort.id, role: "viewer" }), false],
      ["membership role", () => membership("PUT", { userId: member.id, cohortId: cohort.id, role: "manager" }), true],
      ["membership removed", () => membership("DELETE", { userId: member.id, cohortId: cohort.id }), true],
    ];
    for (const [what, step, ends] of steps) {
      const before = await version();
      await step();
      expect(await version(), what).toBe(ends ? before + 1 : before);
    }
  });

  test("a JSON body over 64 KiB is refused with 413, declared or not", async () => {
    await as(admin);
    const big = { name: "x".repeat(70 * 1024) };
    const declared = await postCohort(
      request("POST", "/api/admin/cohorts", big, { "content-length": String(70 * 1024 + 11) }),
    );
    expect(declared.status).toBe(413);
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 16 * 1024;
        controller.enqueue(new TextEncoder().encode(`{"name":"${"y".repeat(16 * 1024)}`));
      },
    });
    const streamed = await postCohort(
      new Request("http://localhost/api/admin/cohorts", {
        method: "POST",
        headers: { "content-type": "application/json", cookie: cookie ?? "" },
        body: endless,
        duplex: "half",
      } as RequestInit),
    );
    expect(streamed.status).toBe(413);
    expect((await streamed.json()).error.code).toBe("too_large");
    expect(pulled).toBeLessThan(256 * 1024);
    const nul = await postCohort(request("POST", "/api/admin/cohorts", { name: "a\u0000b" }));
    expect(nul.status).toBe(400);
  });

  test("deactivate, reactivate, change role and reset a password, each audited", async () => {
    // The member's session stands (a member is refused administration with 403, not 401) ...
    await as(member);
    const memberCookie = cookie;
    expect((await getUsers(request("GET", "/api/admin/users"))).status).toBe(403);
    await as(admin);
    const patch = (body: unknown) =>
      patchUser(request("PATCH", `/api/admin/users/${member.id}`, body), params(member.id));

    expect((await (await patch({ active: false })).json()).user.isActive).toBe(false);
    expect(await lastAudit()).toMatchObject({ action: "user_deactivated", metadata: { userId: member.id } });
    // ... until the deactivation: the same cookie's next request is refused at once.
    const adminCookie = cookie;
    cookie = memberCookie;
    expect((await getUsers(request("GET", "/api/admin/users"))).status).toBe(401);
    cookie = adminCookie;
    await patch({ active: true });
    expect(await lastAudit()).toMatchObject({ action: "user_activated" });

    await patch({ role: "administrator" });
    expect(await lastAudit()).toMatchObject({
      action: "role_changed",
      metadata: { from: "member", to: "administrator" },
    });
    await patch({ role: "member" });

    const reset = await patch({ password: "a-fresh-password-9" });
    passwords.set(member.id, "a-fresh-password-9");
    expect(reset.status).toBe(200);
    expect(JSON.stringify(await reset.json())).not.toMatch(/argon2|a-fresh-password/);
    expect(await lastAudit()).toMatchObject({ action: "password_reset", outcome: "success" });
    const hash = (await findUserById(state.db, member.id))!.passwordHash;
    expect(await verifyPassword(hash, "a-fresh-password-9")).toBe(true);
    expect(await verifyPassword(hash, "member-password")).toBe(false);
    expect(await auditText()).not.toContain("a-fresh-password-9");

    expect((await patch({})).status).toBe(400);
    expect((await patch({ password: "too-short" })).status).toBe(400);
    const missing = "00000000-0000-4000-8000-000000000000";
    expect((await patchUser(request("PATCH", "/x", { active: true }), params(missing))).status).toBe(404);
    expect((await patchUser(request("PATCH", "/x", { active: true }), params("not-a-uuid"))).status).toBe(404);
  });
});

describe("cohorts and memberships", () => {
  test("create a cohort, refuse a duplicate, set and remove memberships", async () => {
    await as(admin);
    const res = await postCohort(request("POST", "/api/admin/cohorts", { name: "Omega", description: "last" }));
    expect(res.status).toBe(201);
    const { cohort } = await res.json();
    expect(cohort).toMatchObject({ name: "Omega", description: "last", members: 0, files: 0, bytes: 0 });
    expect(await lastAudit()).toMatchObject({ action: "cohort_created", cohortId: cohort.id });
    const dup = await postCohort(request("POST", "/api/admin/cohorts", { name: "omega" }));
    expect(dup.status).toBe(409);
    expect((await dup.json()).error.message).toMatch(/already exists/);

    const put = (body: unknown) => putMembership(request("PUT", "/api/admin/memberships", body));
    expect((await put({ userId: member.id, cohortId: cohort.id, role: "viewer" })).status).toBe(200);
    expect(await lastAudit()).toMatchObject({
      action: "membership_set",
      cohortId: cohort.id,
      metadata: { userId: member.id, role: "viewer", previousRole: null },
    });
    const changed = await (await put({ userId: member.id, cohortId: cohort.id, role: "manager" })).json();
    expect(changed.previousRole).toBe("viewer");
    const cohorts = await (await getCohorts(request("GET", "/api/admin/cohorts"))).json();
    expect(cohorts.cohorts.find((c: { id: string }) => c.id === cohort.id).members).toBe(1);

    const missing = "00000000-0000-4000-8000-000000000000";
    expect((await put({ userId: missing, cohortId: cohort.id, role: "viewer" })).status).toBe(404);
    expect((await put({ userId: member.id, cohortId: missing, role: "viewer" })).status).toBe(404);
    expect((await put({ userId: member.id, cohortId: cohort.id, role: "owner" })).status).toBe(400);

    const remove = () =>
      deleteMembership(request("DELETE", "/api/admin/memberships", { userId: member.id, cohortId: cohort.id }));
    expect((await remove()).status).toBe(200);
    expect(await lastAudit()).toMatchObject({ action: "membership_removed", metadata: { role: "manager" } });
    expect((await remove()).status).toBe(404);
  });
});

describe("audit API and export", () => {
  test("JSON search filters; CSV export streams every row, is audited, and neutralises formulas", async () => {
    await as(admin);
    const { cohort } = await ensureCohort(state.db, { name: '=HYPERLINK("x")' });
    const json = await (await getAudit(request("GET", "/api/audit?action=password_reset"))).json();
    expect(json.total).toBe(2); // this test file resets the member's password twice
    expect(json.rows[0]).toMatchObject({ action: "password_reset", actorEmail: "admin@example.org" });
    expect(typeof json.rows[0].id).toBe("string");
    expect((await getAudit(request("GET", "/api/audit?fileId=nope"))).status).toBe(400);

    await putMembership(request("PUT", "/x", { userId: member.id, cohortId: cohort.id, role: "viewer" }));
    const res = await exportAudit(request("GET", `/api/audit/export?cohortId=${cohort.id}`));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toMatch(
      /^attachment; filename="depot-audit-\d{4}-\d{2}-\d{2}\.csv"$/,
    );
    const lines = (await res.text()).trimEnd().split("\r\n");
    expect(lines[0]).toMatch(/^id,occurred_at,action,outcome,server_role,/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(`"'=HYPERLINK(""x"")"`);

    const exported = await lastAudit();
    expect(exported).toMatchObject({ action: "audit_exported", outcome: "success", metadata: { cohortId: cohort.id } });

    const all = await exportAudit(request("GET", "/api/audit/export"));
    const rows = (await all.text()).trimEnd().split("\r\n").length - 1;
    expect(rows).toBe((await state.db.select().from(phiFileTracking)).length);
    expect(await verifyAuditChain(state.db)).toMatchObject({ ok: true });
    expect(
      await state.db.select().from(phiFileTracking).where(eq(phiFileTracking.action, "audit_exported")),
    ).toHaveLength(2);
  });

  test("dates PostgreSQL cannot hold are a 400 naming the field, and the export then writes no row", async () => {
    await as(admin);
    const exportedRows = async () =>
      (await state.db.select().from(phiFileTracking).where(eq(phiFileTracking.action, "audit_exported"))).length;
    const before = await exportedRows();
    for (const [field, value] of [
      ["from", "0000-01-01"],
      ["to", "-000001-01-01"],
      ["from", "+275760-09-13T00:00:00.000Z"],
    ]) {
      const query = `${field}=${encodeURIComponent(value ?? "")}`;
      const search = await getAudit(request("GET", `/api/audit?${query}`));
      expect(search.status).toBe(400);
      expect((await search.json()).error.message).toContain(`invalid filter ${field}`);
      const exported = await exportAudit(request("GET", `/api/audit/export?${query}`));
      expect(exported.status).toBe(400);
    }
    expect(await exportedRows()).toBe(before);
  });
});
