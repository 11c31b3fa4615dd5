import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { stateDir, writePrivateFile } from "./config";

/** What tus-js-client remembers of an upload (its UrlStorage's PreviousUpload), plus Depot's file id. */
export interface StoredUpload {
  size: number | null;
  metadata: Record<string, string>;
  creationTime: string;
  uploadUrl: string | null;
  parallelUploadUrls: string[] | null;
  urlStorageKey: string;
  fileId?: string;
}

const FILE = "uploads.json";

function load(): Record<string, StoredUpload> {
  const file = join(stateDir(), FILE);
  if (!existsSync(file)) return {};
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { uploads?: Record<string, StoredUpload> }).uploads ?? {};
  } catch {
    return {};
  }
}

function save(uploads: Record<string, StoredUpload>) {
  writePrivateFile(stateDir(), FILE, JSON.stringify({ version: 1, uploads }, null, 2));
}

/**
 * tus-js-client's UrlStorage over one JSON file in the state folder (0600, replaced atomically): upload
 * URLs by file fingerprint, so a new process resumes where a killed one stopped. `fileId` is filled from
 * the creation answer's X-Depot-File-Id before tus-js-client stores the URL.
 */
export class UploadState {
  constructor(private readonly fileId: () => string | undefined) {}

  async findAllUploads(): Promise<StoredUpload[]> {
    return Object.entries(load()).map(([key, u]) => ({ ...u, urlStorageKey: key }));
  }

  async findUploadsByFingerprint(fingerprint: string): Promise<StoredUpload[]> {
    return (await this.findAllUploads()).filter((u) => u.urlStorageKey.startsWith(`depot::${fingerprint}::`));
  }

  async removeUpload(urlStorageKey: string): Promise<void> {
    const uploads = load();
    if (!(urlStorageKey in uploads)) return;
    delete uploads[urlStorageKey];
    save(uploads);
  }

  async addUpload(fingerprint: string, upload: Omit<StoredUpload, "urlStorageKey">): Promise<string> {
    const uploads = load();
    const key = `depot::${fingerprint}::${Date.now().toString(36)}`;
    uploads[key] = { ...upload, urlStorageKey: key, fileId: this.fileId() };
    save(uploads);
    return key;
  }
}
