import { LRUCache } from 'lru-cache'
import type { StoreDecision } from '../core/store.js'

interface Denial {
  until: number
  cost: number
  limit: number
  remaining: number
  resetMs: number
  index: number
}

/**
 * Denials remembered on this app server until they expire, so that a client that is already
 * blocked costs no store call. A denial of cost c until T also answers any request of cost
 * >= c before T (it cannot fit either); a cheaper request asks the store. Bounded (LRU);
 * `reset()` and `clear()` on this server empty it.
 */
export class DenialCache {
  readonly #cache: LRUCache<string, Denial>

  constructor (maxKeys: number) {
    this.#cache = new LRUCache({ max: maxKeys })
  }

  /** The cached denial for these buckets at `now`, as a store decision, if one applies. */
  get (key: string, cost: number, now: number): StoreDecision | undefined {
    const denial = this.#cache.get(key)
    if (denial === undefined) return undefined
    if (denial.until <= now) {
      this.#cache.delete(key)
      return undefined
    }
    if (cost < denial.cost) return undefined
    return {
      allowed: false,
      limit: denial.limit,
      remaining: denial.remaining,
      resetMs: denial.resetMs,
      retryAfterMs: denial.until - now,
      index: denial.index,
      now
    }
  }

  /** Remembers a denial the store made; `now` is this server's clock when it arrived. */
  set (key: string, cost: number, decision: StoreDecision, now: number): void {
    this.#cache.set(key, {
      until: now + decision.retryAfterMs,
      cost,
      limit: decision.limit,
      remaining: decision.remaining,
      resetMs: decision.resetMs,
      index: decision.index
    })
  }

  clear (): void {
    this.#cache.clear()
  }
}
