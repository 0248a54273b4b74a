import type { Decision } from '../lib/core/algorithm.js'
import type { DecisionSink, StoreBucket, StoreDecision } from '../lib/core/store.js'

export type { BanStrike, SlotGrant, Store, StoreBucket, StoreDecision, StoreEvents, StoreStats } from '../lib/core/store.js'

/** The result of running every bucket's algorithm against its current state. */
export interface Evaluation {
  decision: StoreDecision
  /** The new state of each bucket; write them (with `ttls`) only when `decision.allowed`. */
  states: unknown[]
  ttls: number[]
}

/**
 * Runs each bucket's pure algorithm on its current state and folds the results into one
 * decision: when all allow, the bucket with the lowest `remaining`; otherwise the denied
 * bucket with the longest `retryAfterMs` (retrying then, every bucket allows). Memory and
 * SQLite stores both decide through this function.
 */
export function evaluate (
  buckets: readonly StoreBucket[],
  current: readonly unknown[],
  cost: number,
  now: number
): Evaluation {
  const states: unknown[] = new Array(buckets.length)
  const ttls: number[] = new Array(buckets.length)
  let best = -1
  let bestDecision: Decision | undefined
  for (let i = 0; i < buckets.length; i++) {
    const { algorithm, params } = buckets[i]
    const result = algorithm.consume(current[i], now, cost, params)
    states[i] = result.state
    ttls[i] = result.ttlMs
    const d = result.decision
    if (bestDecision === undefined || moreRestrictive(d, bestDecision)) {
      best = i
      bestDecision = d
    }
  }
  const d = bestDecision as Decision
  return {
    decision: {
      allowed: d.allowed,
      limit: d.limit,
      remaining: d.remaining,
      resetMs: d.resetMs,
      retryAfterMs: d.retryAfterMs,
      index: best,
      now
    },
    states,
    ttls
  }
}

/**
 * Gives one request of a batch its decision (or its failure). A sink runs its request on, and
 * one that throws must not keep the others of the batch from their answer: its error is thrown
 * on its own, after (an uncaught exception, as any error thrown in a callback).
 */
export function answer (sink: DecisionSink, outcome: unknown, failed = false): void {
  try {
    if (failed) sink.failed(outcome)
    else sink.decided(outcome as StoreDecision)
  } catch (err) {
    queueMicrotask(() => { throw err })
  }
}

function moreRestrictive (a: Decision, b: Decision): boolean {
  if (a.allowed !== b.allowed) return !a.allowed
  if (!a.allowed) return a.retryAfterMs > b.retryAfterMs
  return a.remaining < b.remaining
}

const storeMethods = ['consume', 'reset', 'clear', 'stats', 'close'] as const

/** The names of the contract's methods that `value` lacks (empty when it is a store). */
export function missingStoreMethods (value: unknown): string[] {
  if (value === null || typeof value !== 'object') return [...storeMethods]
  return storeMethods.filter((m) => typeof (value as Record<string, unknown>)[m] !== 'function')
}

/** The contract's optional methods, and the features of the plugin that need each one. */
export const optionalStoreMethods = ['refund', 'peek'] as const

/**
 * An optional method a feature may need: those above, and `strike` (the `ban` option) and
 * `charge` (settled costs), checked only when asked for.
 */
export type OptionalStoreMethod = typeof optionalStoreMethods[number] | 'strike' | 'charge'

/**
 * The optional methods among `wanted` that `store` lacks: a feature that needs one (`count`
 * needs `refund`, `peek()` needs `peek`, settling a cost needs `charge` and `refund`) must
 * refuse such a store at registration, naming the method.
 */
export function missingOptionalMethods (store: object, wanted: readonly OptionalStoreMethod[] = optionalStoreMethods): OptionalStoreMethod[] {
  return wanted.filter((m) => typeof (store as Record<string, unknown>)[m] !== 'function')
}
