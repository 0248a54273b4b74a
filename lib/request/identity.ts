import ipaddr from 'ipaddr.js'

/**
 * Turns `request.ip` into the identity of its IP bucket. IPv4 passes through; IPv4-mapped
 * IPv6 (`::ffff:1.2.3.4`) is unwrapped to IPv4; other IPv6 addresses are grouped by their
 * first `subnet` bits, since one client usually owns a whole /64. Parsing is left to
 * ipaddr.js (the parser proxy-addr, and so Fastify's trustProxy, uses). A value that is not
 * an IP (possible behind a proxy that forwards garbage) is kept as it is: it still gets a
 * bucket of its own, escaped like every identity.
 */
export function ipIdentity (ip: string, subnet: number): string {
  if (!ip.includes(':')) return ip
  let v6: ipaddr.IPv6
  try {
    v6 = ipaddr.IPv6.parse(ip) // a string with a colon can only be IPv6
  } catch {
    return ip
  }
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString()
  if (subnet === 128) return v6.toString()
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${v6.toNormalizedString()}/${subnet}`).toString()}/${subnet}`
}

/** The IPv4 form of an IPv4-mapped IPv6 address, or the address itself. */
export function unmapIp (ip: string): string {
  if (!ip.includes(':')) return ip
  try {
    const address = ipaddr.parse(ip)
    return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
      ? (address as ipaddr.IPv6).toIPv4Address().toString()
      : ip
  } catch {
    return ip
  }
}
