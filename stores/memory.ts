import { LRUCache } from 'lru-cache'
import { evaluate } from './store.js'
import type { Store, StoreBucket, StoreDecision, StoreStats } from './store.js'
import { errors } from '../lib/errors.js'
import { checkInteger } from '../lib/validate.js'

export interface MemoryStoreOptions {
  /**
   * Most buckets held; past it the least recently used bucket is evicted.
   * @default 100_000
   */
  maxKeys?: number
  /**
   * How often expired buckets are swept, in ms. The timer never keeps the process alive.
   * @default 60_000
   */
  cleanupIntervalMs?: number
  /** Clock used when `consume` gets no `now` (tests inject one). @default Date.now */
  clock?: () => number
}

interface Entry {
  state: unknown
  expiresAt: number
}

export interface MemoryStoreStats extends StoreStats {
  maxKeys: number
  evictions: number
  /** A rough estimate of the heap the buckets use (keys, states and index). */
  bytes: number
}

/**
 * The embedded store: buckets in an LRU (lru-cache) bounded by `maxKeys`. Decisions are
 * synchronous, so several windows are all-or-nothing for free.
 */
export class MemoryStore implements Store {
  readonly maxKeys: number
  readonly cleanupIntervalMs: number
  #cache: LRUCache<string, Entry>
  #clock: () => number
  #evictions = 0
  #timer: NodeJS.Timeout | undefined

  constructor (options: MemoryStoreOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new errors.INVALID_OPTION('MemoryStore options', 'an object', options)
    }
    const { maxKeys = 100_000, cleanupIntervalMs = 60_000, clock = Date.now } = options
    this.maxKeys = checkInteger('MemoryStore maxKeys', maxKeys, 1)
    this.cleanupIntervalMs = checkInteger('MemoryStore cleanupIntervalMs', cleanupIntervalMs, 1)
    if (typeof clock !== 'function') throw new errors.INVALID_OPTION('MemoryStore clock', 'a function', clock)
    this.#clock = clock
    this.#cache = new LRUCache<string, Entry>({
      max: this.maxKeys,
      dispose: (_value, _key, reason) => { if (reason === 'evict') this.#evictions++ }
    })
    this.#timer = setInterval(() => this.sweep(), this.cleanupIntervalMs)
    this.#timer.unref()
  }

  consume (buckets: readonly StoreBucket[], cost: number, now: number = this.#clock()): StoreDecision {
    const entries: (Entry | undefined)[] = new Array(buckets.length)
    const current: unknown[] = new Array(buckets.length)
    for (let i = 0; i < buckets.length; i++) {
      const entry = this.#cache.get(buckets[i].key)
      if (entry !== undefined && entry.expiresAt > now) {
        entries[i] = entry
        current[i] = entry.state
      }
    }
    const { decision, states, ttls } = evaluate(buckets, current, cost, now)
    if (decision.allowed) {
      for (let i = 0; i < buckets.length; i++) {
        const entry = entries[i]
        if (entry === undefined) {
          this.#cache.set(buckets[i].key, { state: states[i], expiresAt: now + ttls[i] })
        } else {
          entry.state = states[i]
          entry.expiresAt = now + ttls[i]
        }
      }
    }
    return decision
  }

  reset (key: string): void {
    this.#cache.delete(key)
  }

  clear (): void {
    this.#cache.clear()
  }

  /** Removes buckets whose state has expired; runs on the cleanup timer. */
  sweep (now: number = this.#clock()): number {
    let removed = 0
    for (const [key, entry] of this.#cache.entries()) {
      if (entry.expiresAt <= now) {
        this.#cache.delete(key)
        removed++
      }
    }
    return removed
  }

  stats (): MemoryStoreStats {
    let bytes = 0
    for (const [key, entry] of this.#cache.entries()) {
      // key string + entry object + state (JSON length as a proxy) + LRU index slots
      bytes += 16 + key.length + 32 + JSON.stringify(entry.state).length * 2 + 48
    }
    return { keys: this.#cache.size, maxKeys: this.maxKeys, evictions: this.#evictions, bytes }
  }

  close (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
