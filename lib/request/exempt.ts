import { BlockList, isIP } from 'node:net'
import { formatValue } from '../core/format.js'
import type { ExemptFunction } from '../core/types.js'
import { unmapIp } from './identity.js'

/**
 * Compiles an `exempt` option (the plugin's, or a limit's) into one predicate. IPs and CIDRs go
 * into node's `net.BlockList`, which parses and matches them; IPv4-mapped IPv6 clients are
 * matched by their IPv4 address. A bad entry throws `fail(path[i], expected, received)`: the
 * declaration's coded error.
 */
export function compileExempt (
  exempt: readonly string[] | ExemptFunction | undefined,
  fail: (path: string, expected: string, received: string) => Error,
  path: string
): ExemptFunction | undefined {
  if (exempt === undefined) return undefined
  if (typeof exempt === 'function') return exempt
  if (exempt.length === 0) return undefined
  const list = new BlockList()
  exempt.forEach((entry, i) => {
    if (!add(list, entry)) throw fail(`${path}[${i}]`, "an IP or CIDR like '10.0.0.0/8'", formatValue(entry))
  })
  return (request) => {
    const ip = unmapIp(request.ip)
    const family = isIP(ip)
    return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6')
  }
}

/** Adds an IP or CIDR to the list; false when the entry is neither. */
function add (list: BlockList, entry: string): boolean {
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const family = isIP(address)
  if (family === 0) return false
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (slash === -1) {
    list.addAddress(address, type)
    return true
  }
  const bits = entry.slice(slash + 1)
  const prefix = Number(bits)
  if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) return false
  list.addSubnet(address, prefix, type)
  return true
}
