import type { FastifyRequest } from 'fastify'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { StoreBucket } from '../core/store.js'
import type { CompiledKind, CompiledLimit, ResolvedBucket, ResolvedOptions } from '../core/types.js'
import { ipIdentity } from './identity.js'
import { encodePart } from './keys.js'

/** True for a promise or any other thenable: what a function the user gives may return instead of a value. */
export function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
}

/** The coded error of a resolver or cost function that threw or rejected. */
export function resolverFailed (limit: CompiledLimit, what: string, err: unknown): Error {
  return new errors.RESOLVER_FAILED(limit.where, what, err instanceof Error ? err.message : formatValue(err), { cause: err })
}

/**
 * What an identity resolver's value means: an identity, or undefined for none. An empty
 * string, like undefined or null, is no identity (what a missing header often becomes: not an
 * error a client can trigger at will). Throws FST_LIMITER_INVALID_IDENTITY for anything else.
 */
export function identityOf (limit: CompiledLimit, what: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  throw new errors.INVALID_IDENTITY(limit.where, what, formatValue(value))
}

/** A cost function's value, checked: an integer from 1 to the limit's largest allowable cost. */
export function checkCost (limit: CompiledLimit, value: unknown, maxCost: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > maxCost) {
    throw new errors.INVALID_COST(limit.where, formatValue(value), maxCost)
  }
  return value
}

/** Calls a resolver and waits for it if it returns a promise; throws the resolver's coded error. */
async function call (limit: CompiledLimit, what: string, fn: (request: FastifyRequest) => unknown, request: FastifyRequest): Promise<unknown> {
  try {
    return await fn(request)
  } catch (err) {
    throw resolverFailed(limit, what, err)
  }
}

/**
 * The buckets a request is counted in under `limit`, worked out outside the request hook (by
 * `reset(request)` when the limiter did not run). The hook resolves the same way, step by
 * step and without a promise when every function is synchronous (lib/request/hook.ts).
 *
 * With `apply: 'first'` (the default), one: the `key` bucket when the key function returns an
 * identity, else the user bucket when the route has one and the user resolver returns an id,
 * else the IP bucket when the route has one. With `apply: 'all'`, every one of those whose
 * identity resolves (the IP always does), in that order.
 */
export async function resolveBuckets (request: FastifyRequest, limit: CompiledLimit, options: ResolvedOptions): Promise<ResolvedBucket[]> {
  const all = limit.apply === 'all'
  const found: ResolvedBucket[] = []
  if (limit.key !== undefined) {
    const id = identityOf(limit, 'key', await call(limit, 'key', limit.keyFn as NonNullable<CompiledLimit['keyFn']>, request))
    const kind = id === undefined ? undefined : await kindOf(request, limit, limit.key)
    if (kind !== undefined) {
      found.push({ kind, identity: encodePart(id as string) })
      if (!all) return found
    }
  }
  if (limit.user !== undefined) {
    const id = identityOf(limit, 'user', await call(limit, 'user', options.user, request))
    const kind = id === undefined ? undefined : await kindOf(request, limit, limit.user)
    if (kind !== undefined) {
      found.push({ kind, identity: encodePart(id as string) })
      if (!all) return found
    }
  }
  const kind = limit.ip === undefined ? undefined : await kindOf(request, limit, limit.ip)
  if (kind !== undefined) {
    found.push({ kind, identity: encodePart(ipIdentity(request.ip, options.ipv6Subnet)) })
  }
  return found
}

/** The kind a request is counted in: the declared one, or the one of the rates its function returns. */
async function kindOf (request: FastifyRequest, limit: CompiledLimit, kind: CompiledKind): Promise<CompiledKind | undefined> {
  if (kind.dynamic === undefined) return kind
  return kind.dynamic.compile(await call(limit, `${kind.kind} rate`, kind.dynamic.fn, request))
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
