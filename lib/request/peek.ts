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

/**
 * `describeDecision` for a limit with a ban, whose buckets follow one gate per identity
 * (lib/request/ban.ts): a gate's denial is the identity banned (`banned: true`, its first rate).
 */
export function describeGated (resolved: readonly ResolvedBucket[], d: StoreDecision): RateLimitDecision {
  const gates = resolved.length
  if (d.index >= gates) return describeDecision(resolved, { ...d, index: d.index - gates })
  const { kind } = resolved[d.index]
  return {
    allowed: false,
    limit: d.limit,
    remaining: 0,
    resetMs: d.resetMs,
    retryAfterMs: d.retryAfterMs,
    bucket: kind.kind,
    rate: kind.rates[0].text,
    banned: true
  }
}
