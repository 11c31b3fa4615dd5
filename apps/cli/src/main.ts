#!/usr/bin/env node
import { basename } from "node:path";
import { formatBytes } from "@depot/contract/bytes";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { type Cohort, type FileRecord, findCohort, getJson, listCohorts } from "./api";
import { CliError, configDir, credentials, EXIT, removeConfig, writeConfig } from "./config";
import { downloadFile } from "./download";
import { sha256File } from "./hashing";
import { progress } from "./progress";
import { type UploadResult, uploadFile } from "./upload";

// Run through `pnpm depot …`, relative paths mean the folder the command was typed in.
if (process.env.npm_lifecycle_event === "depot" && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

interface Me {
  user: { id: string; email: string; name: string; administrator: boolean };
  token: { id: string; name: string; permission: string; cohortId: string | null; expiresAt: string } | null;
}

const print = (json: boolean, data: unknown, human: () => string) => {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
};

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

async function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = "";
    for await (const chunk of stdin) text += chunk;
    return text.trim();
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding("utf8");
  return new Promise((resolve) => {
    let value = "";
    const onData = (key: string) => {
      for (const ch of key) {
        if (ch === "\r" || ch === "\n") {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off("data", onData);
          process.stderr.write("\n");
          resolve(value.trim());
          return;
        }
        if (ch === "\u0003") process.exit(130);
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on("data", onData);
  });
}

const jsonOption = () => new Option("--json", "print the result as JSON on stdout (errors as {error:{code,message}})");
const urlOption = () =>
  new Option("--url <url>", "Depot's address (default: DEPOT_URL, else the one from depot login)");

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive whole number");
  return n;
};

const controller = new AbortController();
process.once("SIGINT", () => controller.abort());
process.once("SIGTERM", () => controller.abort());

const program = new Command()
  .name("depot")
  .description(
    "Submit, list, download and verify Depot files from a script.\n" +
      "Authenticates with a personal access token (DEPOT_TOKEN, or the one stored by `depot login`).\n" +
      "Exit codes: 0 ok, 1 failure, 2 usage, 3 token refused, 4 checksum or size mismatch.",
  )
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride();

program
  .command("login")
  .description(
    "check a personal access token (made on Depot's Tokens page) and store it with the address in the config folder (mode 0600); the token is read from stdin, or asked for on a terminal",
  )
  .addOption(urlOption())
  .addOption(jsonOption())
  .action(async (opts: { url?: string; json?: boolean }) => {
    const url = (opts.url ?? process.env.DEPOT_URL)?.replace(/\/+$/, "");
    if (!url) throw new CliError("bad_request", "give Depot's address with --url (or DEPOT_URL)", EXIT.usage);
    const token = process.env.DEPOT_TOKEN || (await readSecret("Personal access token: "));
    if (!token) throw new CliError("bad_request", "no token given", EXIT.usage);
    const me = await getJson<Me>({ url, token, source: "config" }, "/api/me");
    const file = writeConfig({ url, token });
    print(opts.json ?? false, { url, user: me.user, token: me.token, config: file }, () =>
      [
        `Logged in to ${url} as ${me.user.email} with token "${me.token?.name}" (${me.token?.permission}, expires ${me.token?.expiresAt}).`,
        `Stored in ${file} (readable by you only).`,
      ].join("\n"),
    );
  });

program
  .command("logout")
  .description("remove the stored token from the config folder (revoke it on the Tokens page to stop it everywhere)")
  .addOption(jsonOption())
  .action((opts: { json?: boolean }) => {
    const removed = removeConfig();
    print(opts.json ?? false, { removed, configDir: configDir() }, () =>
      removed ? "Removed the stored token." : "No stored token.",
    );
  });

program
  .command("whoami")
  .description("who the token belongs to, and its scope and expiry")
  .addOption(urlOption())
  .addOption(jsonOption())
  .action(async (opts: { url?: string; json?: boolean }) => {
    const creds = credentials(opts.url);
    const me = await getJson<Me>(creds, "/api/me");
    print(
      opts.json ?? false,
      { url: creds.url, source: creds.source, ...me },
      () =>
        `${me.user.email} on ${creds.url}; token "${me.token?.name}" (${me.token?.permission}${me.token?.cohortId ? `, cohort ${me.token.cohortId}` : ", every cohort"}, expires ${me.token?.expiresAt}) from ${creds.source}`,
    );
  });

program
  .command("cohorts")
  .description("the cohorts the token can reach, and what it may do in each")
  .addOption(urlOption())
  .addOption(jsonOption())
  .action(async (opts: { url?: string; json?: boolean }) => {
    const cohorts = await listCohorts(credentials(opts.url));
    const may = (c: Cohort) =>
      Object.entries(c.may)
        .filter(([, v]) => v)
        .map(([k]) => k)
        .join(",") || "read";
    print(opts.json ?? false, { cohorts }, () =>
      cohorts.length === 0
        ? "No cohorts reachable with this token."
        : table([["ID", "NAME", "ROLE", "MAY"], ...cohorts.map((c) => [c.id, c.name, c.role, may(c)])]),
    );
  });

program
  .command("upload")
  .description(
    "upload files over tus (resumable: run the same command again after an interruption), verifying each sha256 with Depot",
  )
  .argument("<files...>", "files to upload")
  .requiredOption("--cohort <name|id>", "the cohort, by name or id (see depot cohorts)")
  .addOption(
    new Option("--kind <kind>", "precheck or submission").choices(["precheck", "submission"]).makeOptionMandatory(),
  )
  .addOption(urlOption())
  .addOption(jsonOption())
  .action(
    async (
      files: string[],
      opts: { cohort: string; kind: "precheck" | "submission"; url?: string; json?: boolean },
    ) => {
      const creds = credentials(opts.url);
      const cohort = await findCohort(creds, opts.cohort);
      if (!cohort.may.upload) throw new CliError("forbidden", `this token may not upload to ${cohort.name}`);
      const results: UploadResult[] = [];
      const failures: { file: string; error: { code: string; message: string } }[] = [];
      let exitCode = 0;
      for (const file of files) {
        if (controller.signal.aborted) break;
        try {
          const result = await uploadFile(
            creds,
            file,
            { cohortId: cohort.id, cohortName: cohort.name, kind: opts.kind },
            controller.signal,
          );
          results.push(result);
          if (!opts.json) {
            process.stdout.write(
              `${result.file}: stored as ${result.id} in ${cohort.name}, ${formatBytes(result.size)}, sha256 ${result.sha256} (verified${result.resumedFrom ? `, resumed at ${result.resumedFrom} bytes` : ""})\n`,
            );
          }
        } catch (error) {
          const e = error instanceof CliError ? error : new CliError("failure", (error as Error).message);
          failures.push({ file, error: { code: e.code, message: e.message } });
          if (!opts.json) process.stderr.write(`depot: ${e.message}\n`);
          exitCode = Math.max(exitCode, e.exitCode);
          if (e.exitCode === EXIT.auth) break;
        }
      }
      if (opts.json)
        print(
          true,
          { cohort: { id: cohort.id, name: cohort.name }, kind: opts.kind, uploaded: results, failed: failures },
          () => "",
        );
      if (exitCode) process.exitCode = exitCode;
    },
  );

program
  .command("ls")
  .description("list files the token can see, newest first")
  .option("--cohort <name|id>", "only this cohort")
  .addOption(new Option("--kind <kind>", "only this kind").choices(["precheck", "submission"]))
  .addOption(new Option("--status <status>", "only this status").choices(["uploading", "stored", "failed", "deleted"]))
  .option("--page <n>", "page number", positiveInt, 1)
  .option("--page-size <n>", "files per page", positiveInt, 50)
  .addOption(urlOption())
  .addOption(jsonOption())
  .action(
    async (opts: {
      cohort?: string;
      kind?: string;
      status?: string;
      page: number;
      pageSize: number;
      url?: string;
      json?: boolean;
    }) => {
      const creds = credentials(opts.url);
      const params = new URLSearchParams({ page: String(opts.page), pageSize: String(opts.pageSize) });
      if (opts.cohort) params.set("cohortId", (await findCohort(creds, opts.cohort)).id);
      if (opts.kind) params.set("kind", opts.kind);
      if (opts.status) params.set("status", opts.status);
      const data = await getJson<{ page: number; pageSize: number; total: number; files: FileRecord[] }>(
        creds,
        `/api/files?${params}`,
      );
      print(opts.json ?? false, data, () =>
        data.files.length === 0
          ? "No files."
          : `${table([
              ["ID", "NAME", "COHORT", "KIND", "STATUS", "SIZE", "CREATED"],
              ...data.files.map((f) => [
                f.id,
                f.name,
                f.cohortName ?? f.cohortId,
                f.kind,
                f.status,
                f.size === null ? "-" : formatBytes(f.size),
                f.createdAt.slice(0, 19).replace("T", " "),
              ]),
            ])}\n(page ${data.page}, ${data.files.length} of ${data.total})`,
      );
    },
  );

program
  .command("download")
  .description(
    "download a file (resumable with Range: run the same command again after an interruption) and verify its sha256",
  )
  .argument("<id>", "the file id (see depot ls)")
  .option("-o, --output <path>", "where to write it (default: the file's name in the current folder)")
  .option("--force", "replace the output file if it exists", false)
  .addOption(urlOption())
  .addOption(jsonOption())
  .action(async (id: string, opts: { output?: string; force: boolean; url?: string; json?: boolean }) => {
    const result = await downloadFile(credentials(opts.url), id, opts.output, {
      force: opts.force,
      signal: controller.signal,
    });
    print(
      opts.json ?? false,
      result,
      () =>
        `${result.path}: ${formatBytes(result.size)}, sha256 ${result.sha256} (verified${result.resumedFrom ? `, resumed at ${result.resumedFrom} bytes` : ""})`,
    );
  });

program
  .command("verify")
  .description("check a local file against Depot's record of a stored file (size and sha256); exit 4 when they differ")
  .argument("<id>", "the file id")
  .argument("<file>", "the local file")
  .addOption(urlOption())
  .addOption(jsonOption())
  .action(async (id: string, file: string, opts: { url?: string; json?: boolean }) => {
    const creds = credentials(opts.url);
    const record = await getJson<FileRecord>(creds, `/api/files/${encodeURIComponent(id)}`);
    let local: { sha256: string; size: number };
    try {
      const bar = progress(basename(file), record.size ?? 0);
      local = await sha256File(file, (n) => bar.update(n));
      bar.stop();
    } catch {
      throw new CliError("not_found", `${file}: cannot be read`);
    }
    const match = local.sha256 === record.sha256 && local.size === record.size;
    print(
      opts.json ?? false,
      { id, file, match, local, depot: { size: record.size, sha256: record.sha256, status: record.status } },
      () =>
        match
          ? `${file} matches ${id}: ${formatBytes(local.size)}, sha256 ${local.sha256}`
          : `${file} does NOT match ${id}: local ${local.size} bytes sha256 ${local.sha256}, Depot ${record.size} bytes sha256 ${record.sha256}`,
    );
    if (!match) process.exitCode = EXIT.mismatch;
  });

const wantsJson = process.argv.includes("--json");
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here with code 0; a usage error has already been printed.
    process.exitCode = error.exitCode === 0 ? 0 : EXIT.usage;
  } else {
    const e = error instanceof CliError ? error : new CliError("failure", (error as Error).message ?? String(error));
    if (wantsJson) process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message } })}\n`);
    else process.stderr.write(`depot: ${e.message}\n`);
    process.exitCode = e.exitCode;
  }
}
