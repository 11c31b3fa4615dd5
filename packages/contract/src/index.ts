// The wire contract between the web and the storage service, and the primitives both tiers (and the CLI) share.
// Connection policy lives apart, in @depot/contract/connection.
export * from "./api-key";
export * from "./config";
export * from "./errors";
export * from "./headers";
export * from "./ids";
export * from "./integers";
export * from "./keys";
export * from "./tus";
