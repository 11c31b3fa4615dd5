export * from "./api-key";
export * from "./errors";
export * from "./headers";
export * from "./idle";
export * from "./keys";
export * from "./linger";
export * from "./tus";
