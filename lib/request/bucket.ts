import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { StoreBucket } from '../core/store.js'
import type { CompiledLimit, CompiledRate, ResolvedBucket } from '../core/types.js'

/** True for a promise or any other thenable: what a function the user gives may return instead of a value. */
export function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
}

/** The coded error of a resolver or cost function that threw or rejected. */
export function resolverFailed (limit: CompiledLimit, what: string, err: unknown): Error {
  return new errors.RESOLVER_FAILED(limit.where, what, { cause: err })
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

/**
 * The resolved bucket and the rate a store decision's `index` describes: the buckets are each
 * kind's rates in turn, after one ban gate per kind when the limit bans (`gated`); a gate's
 * decision describes its kind's first rate.
 */
export function locate (resolved: readonly ResolvedBucket[], index: number, gated: boolean): { bucket: ResolvedBucket, rate: CompiledRate } {
  if (gated) {
    if (index < resolved.length) return { bucket: resolved[index], rate: resolved[index].kind.rates[0] }
    index -= resolved.length
  }
  let j = 0
  while (index >= resolved[j].kind.rates.length) index -= resolved[j++].kind.rates.length
  return { bucket: resolved[j], rate: resolved[j].kind.rates[index] }
}
