import type { FastifyRequest } from 'fastify'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { StoreBucket } from '../core/store.js'
import type { CompiledLimit, ResolvedBucket, ResolvedOptions } from '../core/types.js'
import { ipIdentity } from './identity.js'
import { encodePart } from './keys.js'

/**
 * The buckets a request is counted in under `limit`. With `apply: 'first'` (the default), one:
 * the `key` bucket when the key function returns an identity, else the user bucket when the
 * route has one and the user resolver returns an id, else the IP bucket when the route has one.
 * With `apply: 'all'`, every one of those whose identity resolves (the IP always does), in that
 * order. An empty string, like undefined or null, is no identity: the next kind applies.
 * Throws coded errors for resolvers that throw or return something that is not an identity.
 */
export function resolveBuckets (request: FastifyRequest, limit: CompiledLimit, options: ResolvedOptions): ResolvedBucket[] {
  const all = limit.apply === 'all'
  const found: ResolvedBucket[] = []
  if (limit.key !== undefined) {
    const id = identityOf(request, limit, 'key', limit.keyFn as NonNullable<CompiledLimit['keyFn']>)
    if (id !== undefined) {
      found.push({ kind: limit.key, identity: encodePart(id) })
      if (!all) return found
    }
  }
  if (limit.user !== undefined) {
    const id = identityOf(request, limit, 'user', options.user)
    if (id !== undefined) {
      found.push({ kind: limit.user, identity: encodePart(id) })
      if (!all) return found
    }
  }
  if (limit.ip !== undefined) {
    found.push({ kind: limit.ip, identity: encodePart(ipIdentity(request.ip, options.ipv6Subnet)) })
  }
  return found
}

function identityOf (
  request: FastifyRequest,
  limit: CompiledLimit,
  what: string,
  resolver: (request: FastifyRequest) => unknown
): string | undefined {
  let value: unknown
  try {
    value = resolver(request)
  } catch (err) {
    throw new errors.RESOLVER_FAILED(limit.where, what, err instanceof Error ? err.message : formatValue(err), { cause: err })
  }
  // '' is what a missing header often becomes: no identity, not an error a client can trigger at will
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  throw new errors.INVALID_IDENTITY(limit.where, what, formatValue(value))
}

/** The request's cost under `limit`: the route's number, or what its cost function returns (checked). */
export function costOf (request: FastifyRequest, limit: CompiledLimit): number {
  if (typeof limit.cost === 'number') return limit.cost
  let value: unknown
  try {
    value = limit.cost(request)
  } catch (err) {
    throw new errors.RESOLVER_FAILED(limit.where, 'cost', err instanceof Error ? err.message : formatValue(err), { cause: err })
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > limit.maxCost) {
    throw new errors.INVALID_COST(limit.where, formatValue(value), limit.maxCost)
  }
  return value
}

/** The store keys of a request's buckets, one per rate. */
export function bucketsOf (resolved: ResolvedBucket): StoreBucket[] {
  const { kind, identity } = resolved
  const { rates } = kind
  // a loop rather than rates.map(): no closure per request on the hot path
  const buckets: StoreBucket[] = new Array(rates.length)
  for (let i = 0; i < rates.length; i++) {
    const rate = rates[i]
    buckets[i] = { key: kind.head + identity + rate.tail, algorithm: rate.algorithm, params: rate.params }
  }
  return buckets
}
