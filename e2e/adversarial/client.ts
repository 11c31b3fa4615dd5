import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { repoRoot } from "../../scripts/stack";

export const TUS_VERSION = "1.0.0";
export const SESSION_COOKIE = "next-auth.session-token";

export interface Answer {
  status: number;
  body: string;
  headers: Headers;
}

/** fetch, with the body read as text and transport errors passed on. */
export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { redirect: "manual", ...init });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

export type Part =
  | { name: string; value: string }
  | { name: string; filename: string; content: Buffer | string; contentType?: string; rawDisposition?: string };

/** A multipart body written by hand, so file names and part order can be anything. */
export function multipart(parts: Part[], boundary = `----adv${randomBytes(8).toString("hex")}`) {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if ("value" in part) {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`));
    } else {
      const disposition = part.rawDisposition ?? `form-data; name="${part.name}"; filename="${part.filename}"`;
      chunks.push(
        Buffer.from(`Content-Disposition: ${disposition}\r\nContent-Type: ${part.contentType ?? "text/csv"}\r\n\r\n`),
      );
      chunks.push(Buffer.from(part.content));
      chunks.push(Buffer.from("\r\n"));
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), boundary, contentType: `multipart/form-data; boundary=${boundary}` };
}

export const metadata = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString("base64")}`)
    .join(",");

interface NextAuthJwt {
  encode(params: { token: Record<string, unknown>; secret: string; maxAge?: number }): Promise<string>;
}

/** next-auth's own token encoder (the web app's copy), to forge sessions the way the web would mint them. */
export function nextAuthJwt(): NextAuthJwt {
  const require = createRequire(join(repoRoot, "apps/web/package.json"));
  return require("next-auth/jwt") as NextAuthJwt;
}

export const b64url = (value: string | Buffer) => Buffer.from(value).toString("base64url");

/** The first bytes of a few formats, for disguised-content cases. */
export const MAGIC = {
  zip: Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0]), randomBytes(200)]),
  elf: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(8), randomBytes(200)]),
  /** DOS stub with e_lfanew = 0x80 pointing at "PE\0\0", as every Windows executable has. */
  pe: (() => {
    const pe = Buffer.alloc(0x100);
    pe.write("MZ", 0, "latin1");
    pe.writeUInt32LE(0x80, 0x3c);
    pe.write("PE\0\0", 0x80, "latin1");
    return pe;
  })(),
  /** A CSV that starts with "MZ" (Mozambique's country code): text, not a Windows program. */
  mozambique: Buffer.from("MZ,Maputo,2024-01-02,350\nZA,Durban,2024-01-03,410\n"),
  csv: Buffer.from("patient_id,visit_date,cd4\n1001,2024-01-02,350\n1002,2024-01-03,410\n"),
};
