import { BlockList, isIP } from 'node:net'
import type { FastifyRequest } from 'fastify'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { MaybePromise } from '../core/types.js'
import { unmapIp } from './identity.js'

/**
 * Compiles the `exempt` option into one predicate. IPs and CIDRs go into node's
 * `net.BlockList`, which parses and matches them; IPv4-mapped IPv6 clients are matched by
 * their IPv4 address.
 */
export function compileExempt (
  exempt: readonly string[] | ((request: FastifyRequest) => MaybePromise<boolean>) | undefined
): ((request: FastifyRequest) => MaybePromise<boolean>) | undefined {
  if (exempt === undefined) return undefined
  if (typeof exempt === 'function') return exempt
  if (exempt.length === 0) return undefined
  const list = new BlockList()
  exempt.forEach((entry, i) => add(list, entry, `fastify-limiter option exempt[${i}]`))
  return (request) => {
    const ip = unmapIp(request.ip)
    const family = isIP(ip)
    return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6')
  }
}

function add (list: BlockList, entry: string, path: string): void {
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const family = isIP(address)
  if (family === 0) throw new errors.INVALID_OPTION(path, "an IP or CIDR like '10.0.0.0/8'", formatValue(entry))
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (slash === -1) {
    list.addAddress(address, type)
    return
  }
  const bits = entry.slice(slash + 1)
  const prefix = Number(bits)
  if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) {
    throw new errors.INVALID_OPTION(path, "an IP or CIDR like '10.0.0.0/8'", formatValue(entry))
  }
  list.addSubnet(address, prefix, type)
}
