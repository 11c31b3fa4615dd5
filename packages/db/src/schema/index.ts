export * from "./audit";
export * from "./cohorts";
export * from "./files";
export * from "./users";
export * from "./uploads";
