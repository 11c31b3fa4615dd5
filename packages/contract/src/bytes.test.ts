import { expect, test } from "vitest";
import { formatBytes } from "./bytes";

test("sizes are multiples of 1024 with Uppy's labels: 1.4e9 bytes read 1.30 GB on every page and in the CLI", () => {
  expect(formatBytes(0)).toBe("0 B");
  expect(formatBytes(1023)).toBe("1023 B");
  expect(formatBytes(1536)).toBe("1.5 KB");
  expect(formatBytes(8 * 1024 * 1024)).toBe("8 MB");
  expect(formatBytes(200 * 1024 * 1024)).toBe("200 MB");
  expect(formatBytes(1.4e9)).toBe("1.30 GB");
});
