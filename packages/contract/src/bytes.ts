import { prettierBytes } from "@transloadit/prettier-bytes";

/**
 * Every size a person reads (the pages, the CLI) goes through this one function, the one Uppy's Dashboard uses on
 * the upload page, so a size reads the same everywhere: multiples of 1024 written B, KB, MB, GB (8 MiB reads
 * "8 MB"). A subpath of its own: the upload page (a client component) imports it without the rest of the contract.
 */
export function formatBytes(bytes: number): string {
  return prettierBytes(bytes);
}
