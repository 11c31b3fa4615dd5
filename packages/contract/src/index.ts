export * from "./errors";
export * from "./headers";
export * from "./idle";
export * from "./keys";
export * from "./tus";
