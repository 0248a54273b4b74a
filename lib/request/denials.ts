import { LRUCache } from 'lru-cache'
import type { StoreDecision } from '../core/store.js'
import { monotonic } from './clock.js'

interface Denial {
  /** When it expires on the monotonic clock. */
  untilMono: number
  /** When it expires on the injected clock, when the plugin has one. */
  until: number | undefined
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
 *
 * Expiry runs on the monotonic clock, so a wall clock stepped back cannot keep a client blocked;
 * with an injected clock a denial also expires when that clock passes it (tests move it by
 * hand). Expiring early is always safe: the store is asked and decides again.
 */
export class DenialCache {
  readonly #cache: LRUCache<string, Denial>

  constructor (maxKeys: number) {
    this.#cache = new LRUCache({ max: maxKeys })
  }

  /** The cached denial for these buckets, as a store decision, if one applies; `now` is the injected clock's time. */
  get (key: string, cost: number, now: number | undefined): StoreDecision | undefined {
    const denial = this.#cache.get(key)
    if (denial === undefined) return undefined
    const left = denial.untilMono - monotonic()
    if (left <= 0 || (now !== undefined && denial.until !== undefined && denial.until <= now)) {
      this.#cache.delete(key)
      return undefined
    }
    if (cost < denial.cost) return undefined
    return {
      allowed: false,
      limit: denial.limit,
      remaining: denial.remaining,
      resetMs: denial.resetMs,
      retryAfterMs: now !== undefined && denial.until !== undefined ? denial.until - now : Math.ceil(left),
      index: denial.index,
      now: now ?? Date.now()
    }
  }

  /** Remembers a denial the store made; `now` is the injected clock's time when it arrived, if any. */
  set (key: string, cost: number, decision: StoreDecision, now: number | undefined): void {
    this.#cache.set(key, {
      untilMono: monotonic() + decision.retryAfterMs,
      until: now === undefined ? undefined : now + decision.retryAfterMs,
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
