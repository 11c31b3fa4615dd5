/** Fixed loopback ports for the end-to-end stack: the config and every worker must agree on them. */
const base = Number(process.env.E2E_PORT_BASE ?? 18000);
export const E2E_PORTS = { web: base, services: base + 1, postgres: base + 2 };
export const E2E_BASE_URL = `http://localhost:${E2E_PORTS.web}`;
