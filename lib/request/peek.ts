import type { StoreDecision } from '../core/store.js'
import type { RateLimitDecision, ResolvedBucket } from '../core/types.js'

/**
 * The public decision of a store's answer for `resolved` (the buckets are each kind's rates in
 * turn, and `d.index` is the deciding one among them): what `request.rateLimit` holds and what
 * `fastify.rateLimit.peek()` resolves to.
 */
export function describeDecision (resolved: readonly ResolvedBucket[], d: StoreDecision): RateLimitDecision {
  let j = 0
  let index = d.index
  while (index >= resolved[j].kind.rates.length) index -= resolved[j++].kind.rates.length
  const { kind } = resolved[j]
  return {
    allowed: d.allowed,
    limit: d.limit,
    remaining: d.remaining,
    resetMs: d.resetMs,
    retryAfterMs: d.retryAfterMs,
    bucket: kind.kind,
    rate: kind.rates[index].text
  }
}
