import * as tus from "tus-js-client";

/** Fixed tus chunk size: an interrupted upload resumes from the last whole chunk the server acknowledged. */
export const TUS_CHUNK_SIZE = 8 * 1024 * 1024;
/** How many files upload at once; the others wait in Uppy's queue. */
export const TUS_CONCURRENCY = 3;
/** Retries after a failed request (ms); while the browser is offline, the queue waits for `online` instead. */
export const TUS_RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000];

type UrlStorage = NonNullable<tus.UploadOptions["urlStorage"]>;
type PreviousUpload = Awaited<ReturnType<UrlStorage["findAllUploads"]>>[number];

/**
 * tus-js-client's browser store of upload URLs (localStorage: the URL, size and metadata, never file bytes),
 * narrowed to the batch being sent: the same file chosen again for another cohort or kind starts a new upload
 * instead of continuing one that lands elsewhere.
 */
export function batchStorage(
  current: () => { cohortId: string; kind: string },
  base: UrlStorage | undefined = tus.defaultOptions.urlStorage,
): UrlStorage {
  const sameBatch = (upload: PreviousUpload) => {
    const { cohortId, kind } = current();
    return upload.metadata?.cohortId === cohortId && upload.metadata?.kind === kind;
  };
  return {
    findAllUploads: async () => ((await base?.findAllUploads()) ?? []).filter(sameBatch),
    findUploadsByFingerprint: async (fingerprint) =>
      ((await base?.findUploadsByFingerprint(fingerprint)) ?? []).filter(sameBatch),
    removeUpload: async (key) => base?.removeUpload(key),
    addUpload: async (fingerprint, upload) => (await base?.addUpload(fingerprint, upload)) ?? "",
  };
}
