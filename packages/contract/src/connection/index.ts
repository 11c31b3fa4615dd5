/*
 * How Depot's servers treat connections (idle clients, answers sent before the body ended): server policy both
 * tiers share, not part of the wire contract between them. Imported as @depot/contract/connection.
 */
export * from "./idle";
export * from "./linger";
