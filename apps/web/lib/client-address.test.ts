import { describe, expect, it } from "vitest";
import { clientAddress, parseTrustedProxies } from "./client-address";

const trusted = (value: string) => {
  const list = parseTrustedProxies(value);
  if (typeof list === "string") throw new Error(list);
  return list;
};

describe("clientAddress", () => {
  const proxies = trusted("127.0.0.1, 10.0.0.0/8, fd00::/8");

  it("records the socket's address when no proxy is trusted, whatever the headers claim", () => {
    expect(clientAddress("127.0.0.1", "203.0.113.9", trusted(""))).toBe("127.0.0.1");
    expect(clientAddress("198.51.100.4", "203.0.113.9", proxies)).toBe("198.51.100.4");
  });

  it("takes the client from X-Forwarded-For when the socket is a trusted proxy", () => {
    expect(clientAddress("127.0.0.1", "203.0.113.9", proxies)).toBe("203.0.113.9");
    expect(clientAddress("::ffff:127.0.0.1", "203.0.113.9", proxies)).toBe("203.0.113.9");
  });

  it("skips trusted hops from the right and ignores what the client wrote to their left", () => {
    expect(clientAddress("127.0.0.1", "1.2.3.4, 203.0.113.9, 10.1.2.3", proxies)).toBe("203.0.113.9");
    expect(clientAddress("127.0.0.1", "forged, 203.0.113.9", proxies)).toBe("203.0.113.9");
  });

  it("stops at a hop that is not an address, keeping the last trusted one", () => {
    expect(clientAddress("127.0.0.1", "203.0.113.9, garbage", proxies)).toBe("127.0.0.1");
    expect(clientAddress("10.0.0.5", "fd00::1, not-an-ip", proxies)).toBe("10.0.0.5");
  });

  it("uses the leftmost hop when every hop is a trusted proxy", () => {
    expect(clientAddress("127.0.0.1", "10.0.0.7, 10.0.0.8", proxies)).toBe("10.0.0.7");
  });

  it("answers unknown without a socket address", () => {
    expect(clientAddress(undefined, "203.0.113.9", proxies)).toBe("unknown");
  });
});

describe("parseTrustedProxies", () => {
  it.each(["localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/8/1", "10.0.0.0/x"])("refuses %j", (value) => {
    expect(parseTrustedProxies(value)).toMatch(/^TRUSTED_PROXIES: /);
  });

  it("accepts addresses and ranges of both families", () => {
    expect(typeof parseTrustedProxies("127.0.0.1,::1,10.0.0.0/8,fd00::/8")).toBe("object");
  });
});
