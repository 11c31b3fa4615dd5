export * from "./audit";
export * from "./cohorts";
export * from "./files";
export * from "./replicas";
export * from "./tokens";
export * from "./uploads";
export * from "./users";
