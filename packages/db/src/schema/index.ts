export * from "./audit";
export * from "./cohorts";
export * from "./files";
export * from "./uploads";
export * from "./users";
