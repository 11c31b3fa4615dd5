import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DepotError } from "@depot/contract";
import { describe, expect, it } from "vitest";
import { ContentCheck, detectContent, HEAD_BYTES } from "./content-check";

async function pass(extension: string, chunks: Buffer[]) {
  const check = new ContentCheck(extension);
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from(chunks), check, sink);
  return { check, output: Buffer.concat(received) };
}

const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(600)]);

describe("detectContent", () => {
  it("names formats by their magic numbers", () => {
    expect(detectContent(elf)).toBe("elf");
    expect(detectContent(Buffer.from("PK\x03\x04rest", "latin1"))).toBe("zip");
    expect(detectContent(Buffer.from("PAR1...."))).toBe("parquet");
    expect(detectContent(Buffer.from("$FL2@(#) SPSS"))).toBe("spss");
    expect(detectContent(Buffer.from("id,age\n1,34\n"))).toBe("text");
    expect(detectContent(Buffer.from([1, 2, 3, 0, 4]))).toBe("binary");
  });

  it("does not take a CSV that starts with MZ for a Windows program", () => {
    const csv = Buffer.from(`MZ,Mozambique,${"x".repeat(100)}\nAO,Angola\n`);
    expect(detectContent(csv)).toBe("text");
  });
});

describe("ContentCheck", () => {
  it("passes every byte through unchanged, across chunk boundaries", async () => {
    const body = Buffer.from("id,age\n".repeat(500));
    const chunks = [body.subarray(0, 3), body.subarray(3, HEAD_BYTES + 10), body.subarray(HEAD_BYTES + 10)];
    const { check, output } = await pass("csv", chunks);
    expect(output.equals(body)).toBe(true);
    expect(check.detected).toBe("text");
    expect(check.mismatch).toBeUndefined();
  });

  it("passes a file shorter than the head it inspects", async () => {
    const { output, check } = await pass("csv", [Buffer.from("a,b\n")]);
    expect(output.toString()).toBe("a,b\n");
    expect(check.detected).toBe("text");
  });

  it("refuses an executable whatever its extension, before any byte passes", async () => {
    const check = new ContentCheck("csv");
    let passed = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        passed += chunk.length;
        callback();
      },
    });
    const failure = await pipeline(Readable.from([elf]), check, sink).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DepotError);
    expect((failure as DepotError).code).toBe("unsupported_type");
    expect(passed).toBe(0);
  });

  it("notes, without refusing, content that disagrees with its extension", async () => {
    const { check, output } = await pass("csv", [Buffer.from("PK\x03\x04zipped", "latin1")]);
    expect(output.length).toBe(10);
    expect(check.mismatch).toEqual({ detected: "zip", extension: "csv" });
  });
});
