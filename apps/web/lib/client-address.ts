import { BlockList, isIP } from "node:net";

/** The part after "::ffff:" of an IPv4 address a dual-stack socket reports in IPv6 form. */
const unmapped = (address: string) => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");

const family = (address: string) => (isIP(address) === 6 ? "ipv6" : "ipv4");

/**
 * Parses TRUSTED_PROXIES: addresses and CIDR ranges (IPv4 or IPv6) of the reverse proxies in front of the web.
 * Returns the problem with the first entry that is neither, so configuration fails at start, not per request.
 */
export function parseTrustedProxies(value: string): BlockList | string {
  const list = new BlockList();
  for (const entry of value
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    const [address = "", prefix, ...rest] = entry.split("/");
    const version = isIP(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    if (
      !version ||
      rest.length > 0 ||
      (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= (version === 4 ? 32 : 128)))
    ) {
      return `TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 127.0.0.1, ::1)`;
    }
    if (bits === undefined) list.addAddress(address, family(address));
    else list.addSubnet(address, bits, family(address));
  }
  return list;
}

/**
 * Who is on the other end, for the audit trail and the rate limits. The socket's address, unless it is one of our
 * trusted proxies: then X-Forwarded-For is read from the right (the hop our proxy added) and the first address
 * that is not a trusted proxy is the client. Hops to its left were written by the client and prove nothing.
 */
export function clientAddress(
  socketAddress: string | undefined,
  forwardedFor: string | undefined,
  trusted: BlockList,
): string {
  if (!socketAddress) return "unknown";
  let client = unmapped(socketAddress);
  const isTrusted = (address: string) => isIP(address) !== 0 && trusted.check(address, family(address));
  if (!forwardedFor || !isTrusted(client)) return client;
  const hops = forwardedFor.split(",").map((hop) => unmapped(hop.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] ?? "";
    if (!isIP(hop)) break; // a hop that is not an address: keep the last one we could trust
    client = hop;
    if (!isTrusted(hop)) break;
  }
  return client;
}
