/** Fixed loopback ports for the end-to-end suites, in one block from E2E_PORT_BASE: the config and every worker must agree on them. */
const base = Number(process.env.E2E_PORT_BASE ?? 18000);
/** The Playwright stack. */
export const E2E_PORTS = { web: base, services: base + 1, postgres: base + 2 };
export const E2E_BASE_URL = `http://localhost:${E2E_PORTS.web}`;
/** The CLI suite's own stack. */
export const E2E_CLI_PORTS = { web: base + 10, services: base + 11 };
/** The two-server harness test. */
export const E2E_HARNESS_PORTS = { web: base + 100, services: base + 101, postgres: base + 102 };
