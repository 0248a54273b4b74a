import type { Algorithm, AlgorithmParams, Decision } from '../algorithms/types.js'

/** One bucket a request is charged against: its store key and the rate that governs it. */
export interface StoreBucket {
  /** The full store key, already escaped and prefixed by the plugin. */
  readonly key: string
  readonly algorithm: Algorithm<any>
  readonly params: AlgorithmParams
}

/** The single decision a store returns for all buckets of one request. */
export interface StoreDecision extends Decision {
  /** Index, in the `buckets` array, of the bucket this decision describes. */
  index: number
  /** The time (epoch ms) the store decided at: the injected one, or the store's own clock. */
  now: number
}

/** What `stats()` returns; stores may add fields of their own. */
export interface StoreStats {
  /** Buckets currently held. */
  keys: number
  [field: string]: unknown
}

/**
 * The store contract. `consume` decides every bucket of one request atomically: all allow and
 * all are charged, or none is charged. It may return the decision directly (the memory store
 * does, to keep the hot path free of promises) or a promise of it.
 */
export interface Store {
  /**
   * @param buckets the request's buckets (one per window of the applying limit)
   * @param cost cost units, an integer with `1 <= cost <= burst` of every bucket
   * @param now epoch ms to decide at; when omitted the store uses its own clock
   */
  consume (buckets: readonly StoreBucket[], cost: number, now?: number): StoreDecision | Promise<StoreDecision>
  /** Forget one bucket. */
  reset (key: string): void | Promise<void>
  /** Forget every bucket this store holds. */
  clear (): void | Promise<void>
  stats (): StoreStats | Promise<StoreStats>
  /** Release timers and connections; called on Fastify close for stores the plugin owns or was given. */
  close (): void | Promise<void>
}

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
