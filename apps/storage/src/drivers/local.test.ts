import { mkdtempSync, rmSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { DepotError } from "@depot/contract";
import { afterEach, beforeEach, describe, expect, it, test, vi } from "vitest";
import { runDriverConformance } from "./conformance";
import { LocalDriver } from "./local";

/** Every file under the root, `.tmp` included, as a path relative to the root. */
async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

runDriverConformance("local", async () => {
  const root = await mkdtemp(join(tmpdir(), "depot-local-"));
  return {
    driver: new LocalDriver(root),
    listRaw: () => listFiles(root),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe("local driver on a folder with symbolic links", () => {
  let root: string;
  let outside: string;
  let driver: LocalDriver;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "depot-local-root-"));
    outside = await mkdtemp(join(tmpdir(), "depot-local-outside-"));
    driver = new LocalDriver(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  const expectInvalidKey = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(DepotError);
    expect((error as DepotError).code).toBe("invalid_key");
  };

  it("refuses a key whose folder is a link pointing outside the root", async () => {
    await writeFile(join(outside, "x"), "secret outside the disk");
    await symlink(outside, join(root, "evil"));

    await expectInvalidKey(driver.write("evil/new", Readable.from([Buffer.from("payload")]), { maxBytes: 1024 }));
    await expectInvalidKey(driver.read("evil/x"));
    await expectInvalidKey(driver.stat("evil/x"));
    await expectInvalidKey(driver.delete("evil/x"));

    expect(await readdir(outside)).toEqual(["x"]);
    expect(await readFile(join(outside, "x"), "utf8")).toBe("secret outside the disk");
  });

  it("refuses a key that is itself a link, even to a file inside the root", async () => {
    await mkdir(join(root, "c1"));
    await writeFile(join(root, "c1", "real"), "the real object");
    await writeFile(join(outside, "target"), "secret outside the disk");
    await symlink(join(outside, "target"), join(root, "c1", "leak"));
    await symlink(join(root, "c1", "real"), join(root, "c1", "alias"));

    for (const key of ["c1/leak", "c1/alias"]) {
      await expectInvalidKey(driver.write(key, Readable.from([Buffer.from("payload")]), { maxBytes: 1024 }));
      await expectInvalidKey(driver.read(key));
      await expectInvalidKey(driver.stat(key));
      await expectInvalidKey(driver.delete(key));
      expect((await lstat(join(root, key))).isSymbolicLink()).toBe(true);
    }
    expect(await readFile(join(outside, "target"), "utf8")).toBe("secret outside the disk");
    expect(await readFile(join(root, "c1", "real"), "utf8")).toBe("the real object");
  });

  it("hides leftovers in .tmp from list and usage", async () => {
    await driver.write("c1/kept", Readable.from([Buffer.from("kept")]), { maxBytes: 1024 });
    await writeFile(join(root, ".tmp", "crashed-upload.part"), "half an upload");
    const page = await driver.list("", { limit: 10 });
    expect(page.items.map((item) => item.key)).toEqual(["c1/kept"]);
    expect((await driver.usage()).byPrefix).toEqual({ c1: { bytes: 4, files: 1 } });
  });
});

describe("local temporaries", () => {
  test("an unfinished write is a temporary that cleanup can list and delete", async () => {
    const root = mkdtempSync(join(tmpdir(), "depot-local-temp-"));
    const driver = new LocalDriver(root);
    const source = new PassThrough();
    const writing = driver.write("c1/abandoned", source, { maxBytes: 1024 });
    source.write(Buffer.from("partial"));
    await vi.waitFor(async () => expect(await driver.listTemporaries()).toHaveLength(1));
    const [temporary] = await driver.listTemporaries();
    expect(temporary).toMatchObject({ size: 7 });
    await driver.deleteTemporary(temporary!.key);
    expect(await driver.listTemporaries()).toEqual([]);
    source.destroy(new Error("client went away"));
    await writing.catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });
});
