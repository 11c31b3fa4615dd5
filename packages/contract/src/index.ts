export * from "./errors";
export * from "./headers";
export * from "./keys";
export * from "./tus";
