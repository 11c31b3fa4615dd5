import { listCohorts } from "@depot/db";
import { runCommand } from "./command";

const HELP = `Usage: pnpm storage:usage [--json]

Bytes and files per disk and per cohort (top-level folder), and free space where the disk can tell.`;

await runCommand(HELP, { json: { type: "boolean" } }, async (ctx, values) => {
  const names = new Map((await listCohorts(ctx.db)).map((c) => [c.id, c.name]));
  const disks = [];
  for (const name of ctx.disks.names()) {
    const { driver } = ctx.disks.get(name);
    disks.push({ name, driver: driver.kind, ...(await driver.usage()) });
  }
  if (values.json) {
    console.log(JSON.stringify({ disks }, null, 2));
    return 0;
  }
  for (const disk of disks) {
    const total = Object.values(disk.byPrefix).reduce(
      (sum, u) => ({ bytes: sum.bytes + u.bytes, files: sum.files + u.files }),
      { bytes: 0, files: 0 },
    );
    console.log(
      `disk ${disk.name} (${disk.driver}): ${total.bytes} bytes in ${total.files} files${disk.freeBytes === null ? "" : `, ${disk.freeBytes} bytes free`}`,
    );
    for (const [prefix, u] of Object.entries(disk.byPrefix).sort((a, b) => b[1].bytes - a[1].bytes)) {
      console.log(
        `  ${(names.get(prefix) ?? prefix).padEnd(40)} ${String(u.bytes).padStart(15)} bytes  ${String(u.files).padStart(7)} files`,
      );
    }
  }
  return 0;
});
