import { Transform, type TransformCallback } from "node:stream";
import { DepotError } from "@depot/contract";

/** How many leading bytes the check looks at (held back until then: memory stays flat). */
export const HEAD_BYTES = 512;

const EXECUTABLE = new Set(["elf", "pe", "mach-o"]);

/** What each accepted extension's content should look like; extensions not listed are not checked. */
const EXPECTED: Record<string, string> = {
  csv: "text",
  tsv: "text",
  txt: "text",
  zip: "zip",
  parquet: "parquet",
  sas7bdat: "sas7bdat",
  dta: "stata",
  sav: "spss",
};

const startsWith = (head: Buffer, bytes: number[], at = 0) => bytes.every((b, i) => head[at + i] === b);

/** The format the first bytes of a file announce, by magic number; "text" or "binary" otherwise. */
export function detectContent(head: Buffer): string {
  if (startsWith(head, [0x7f, 0x45, 0x4c, 0x46])) return "elf";
  if (head.length >= 4 && [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(head.readUInt32BE(0)))
    return "mach-o";
  if (startsWith(head, [0x4d, 0x5a]) && head.length >= 0x40) {
    // "MZ" alone could start a CSV (Mozambique's country code): a PE file also has its "PE\0\0" header.
    const pe = head.readUInt32LE(0x3c);
    if (pe + 4 <= head.length ? startsWith(head, [0x50, 0x45, 0, 0], pe) : head.includes(0)) return "pe";
  }
  if (startsWith(head, [0x50, 0x4b]) && [0x0304, 0x0506, 0x0708].includes(head.readUInt16BE(2))) return "zip";
  if (startsWith(head, [0x1f, 0x8b])) return "gzip";
  if (head.subarray(0, 4).toString("latin1") === "PAR1") return "parquet";
  if (startsWith(head, [0xc2, 0xea, 0x81, 0x60], 12)) return "sas7bdat";
  if (head.subarray(0, 11).toString("latin1") === "<stata_dta>") return "stata";
  if ((head[0] ?? 0) >= 0x66 && (head[0] ?? 0) <= 0x73 && (head[1] === 1 || head[1] === 2) && head[2] === 1)
    return "stata";
  if (["$FL2", "$FL3"].includes(head.subarray(0, 4).toString("latin1"))) return "spss";
  if (head.subarray(0, 5).toString("latin1") === "%PDF-") return "pdf";
  if (startsWith(head, [0xff, 0xfe]) || startsWith(head, [0xfe, 0xff])) return "text"; // UTF-16 with a BOM
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters mark binary content
  return head.includes(0) || /[\u0000-\u0008\u000e-\u001a\u001c-\u001f\u007f]/.test(head.toString("latin1"))
    ? "binary"
    : "text";
}

/**
 * Passes a file's bytes through unchanged and looks at the first HEAD_BYTES: a native executable (ELF, PE,
 * Mach-O) fails the stream with unsupported_type whatever the file is called, since no research data file is a
 * program; any other disagreement with the extension is only noted in `mismatch`, for the audit trail.
 */
export class ContentCheck extends Transform {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private decided = false;
  detected: string | undefined;

  constructor(private readonly extension: string) {
    super();
  }

  /** Set once decided, when the content is not what the extension promises. */
  get mismatch(): { detected: string; extension: string } | undefined {
    const expected = EXPECTED[this.extension];
    if (!this.detected || !expected || this.detected === expected) return undefined;
    return { detected: this.detected, extension: this.extension };
  }

  private decide(): DepotError | undefined {
    this.decided = true;
    const head = Buffer.concat(this.held);
    if (head.length === 0) return undefined;
    this.detected = detectContent(head.subarray(0, HEAD_BYTES));
    if (EXECUTABLE.has(this.detected)) {
      return new DepotError(
        "unsupported_type",
        `the file's content is an executable program (${this.detected}), not data; it was not kept`,
      );
    }
    for (const chunk of this.held) this.push(chunk);
    this.held = [];
    return undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    if (this.decided) return callback(null, chunk);
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    callback(this.heldBytes >= HEAD_BYTES ? this.decide() : undefined);
  }

  override _flush(callback: TransformCallback) {
    callback(this.decided ? undefined : this.decide());
  }
}
