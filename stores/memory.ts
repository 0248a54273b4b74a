import { randomBytes } from 'node:crypto'
import { fixedWindowAlgorithm } from '../algorithms/fixed-window.js'
import { slidingWindowAlgorithm } from '../algorithms/sliding-window.js'
import { banGateAlgorithm, banStrike } from '../algorithms/ban.js'
import type { Algorithm, BanRule } from '../lib/core/algorithm.js'
import { evaluate } from './store.js'
import type { BanStrike, SlotGrant, Store, StoreBucket, StoreDecision, StoreStats } from './store.js'
import { errors } from '../lib/core/errors.js'
import { checkInteger } from '../lib/core/format.js'

/** Options of `new MemoryStore(options)`. */
export interface MemoryStoreOptions {
  /**
   * Most buckets held; past it the least recently used bucket is evicted. About 110 bytes a
   * bucket at a million.
   * @default 100_000
   * @example new MemoryStore({ maxKeys: 1_000_000 })
   */
  maxKeys?: number
  /**
   * How often expired buckets are swept, in ms. The timer never keeps the process alive.
   * @default 60_000
   * @example new MemoryStore({ cleanupIntervalMs: 10_000 })
   */
  cleanupIntervalMs?: number
  /**
   * Clock used when `consume` gets no `now` (tests inject one).
   * @default Date.now
   * @example new MemoryStore({ clock: () => fakeNow })
   */
  clock?: () => number
}

export interface MemoryStoreStats extends StoreStats {
  maxKeys: number
  evictions: number
  /** An estimate of the heap the buckets use (keys, states and index). */
  bytes: number
}

/** How a slot's state is held: as the object itself, or packed into the number columns. */
const OBJECT = 0
const FIXED = 1
const SLIDING = 2

/** No slot: the end of the LRU list or of the free list. */
const NONE = -1
const FIRST_CAPACITY = 1024

/**
 * The embedded store. Decisions are synchronous, so several windows are all-or-nothing for free.
 *
 * Buckets live in slots: parallel typed arrays (expiry, LRU links, the key's hash, and the state
 * of the two window algorithms packed into numbers) plus one array of keys, indexed by a
 * linear-probing hash table of slot numbers. That is about 110 bytes per key at a million keys,
 * a third of what a `Map` of entry objects takes; states of the other algorithms are kept as
 * the objects the algorithms return. The slots form a doubly linked LRU list, so eviction at
 * `maxKeys` is exact least-recently-used order; the arrays grow by doubling up to `maxKeys`.
 */
export class MemoryStore implements Store {
  readonly maxKeys: number
  readonly cleanupIntervalMs: number
  #clock: () => number
  #evictions = 0
  #timer: NodeJS.Timeout | undefined
  /** Per-store hash seed, so that nobody can pick keys that collide in every process. */
  readonly #seed: number
  #capacity = 0
  /** Slots ever handed out; slots below it are in use or on the free list. */
  #used = 0
  #size = 0
  #free = NONE
  #oldest = NONE
  #newest = NONE
  #keys: Array<string | undefined> = []
  #hashes = new Int32Array(0)
  #prev = new Int32Array(0)
  #next = new Int32Array(0)
  #expires = new Float64Array(0)
  #kinds = new Uint8Array(0)
  /** Window index (`w`) of a packed state. */
  #window = new Float64Array(0)
  /** Count (`c`) and previous count (`p`) of a packed state. */
  #count = new Uint32Array(0)
  #previous = new Uint32Array(0)
  /** States of other shapes, by slot; made on first use. */
  #objects: unknown[] | undefined
  /** Hash table of slot + 1 (0: empty), at most half full. */
  #table = new Int32Array(0)
  #mask = 0

  constructor (options: MemoryStoreOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new errors.INVALID_OPTION('MemoryStore options', 'an object', options)
    }
    const { maxKeys = 100_000, cleanupIntervalMs = 60_000, clock = Date.now } = options
    this.maxKeys = checkInteger('MemoryStore maxKeys', maxKeys, 1)
    this.cleanupIntervalMs = checkInteger('MemoryStore cleanupIntervalMs', cleanupIntervalMs, 1)
    if (typeof clock !== 'function') throw new errors.INVALID_OPTION('MemoryStore clock', 'a function', clock)
    this.#clock = clock
    this.#seed = randomBytes(4).readInt32LE(0)
    this.#allocate(Math.min(this.maxKeys, FIRST_CAPACITY))
    this.#timer = setInterval(() => this.sweep(), this.cleanupIntervalMs)
    this.#timer.unref()
  }

  consume (buckets: readonly StoreBucket[], cost: number, now: number = this.#clock()): StoreDecision {
    if (buckets.length === 1) {
      // one window: the common case, without the arrays evaluate() folds several into
      const { key, algorithm, params } = buckets[0]
      const hash = this.#hash(key)
      const slot = this.#lookup(key, hash)
      const result = algorithm.consume(slot === NONE ? undefined : this.#state(slot, now), now, cost, params)
      const d = result.decision
      if (d.allowed) this.#write(this.#claim(slot, key, hash), algorithm, result.state, now + result.ttlMs)
      return { allowed: d.allowed, limit: d.limit, remaining: d.remaining, resetMs: d.resetMs, retryAfterMs: d.retryAfterMs, index: 0, now }
    }
    const hashes: number[] = new Array(buckets.length)
    const slots: number[] = new Array(buckets.length)
    const current: unknown[] = new Array(buckets.length)
    for (let i = 0; i < buckets.length; i++) {
      hashes[i] = this.#hash(buckets[i].key)
      slots[i] = this.#lookup(buckets[i].key, hashes[i])
      current[i] = slots[i] === NONE ? undefined : this.#state(slots[i], now)
    }
    const { decision, states, ttls } = evaluate(buckets, current, cost, now)
    if (decision.allowed) {
      // the buckets that exist first: a new key may evict a slot, and must not take one that
      // a later write of this request still means (only possible when maxKeys < the windows)
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < buckets.length; i++) {
          // a ban's gate only reads (algorithms/ban.ts)
          if ((slots[i] === NONE) === (pass === 1) && buckets[i].algorithm.gate !== true) {
            this.#write(this.#claim(slots[i], buckets[i].key, hashes[i]), buckets[i].algorithm, states[i], now + ttls[i])
          }
        }
      }
    }
    return decision
  }

  /** Forgets the bucket under `key`, or the concurrency slots held under it. */
  reset (key: string): void {
    this.#slots.delete(key)
    const slot = this.#find(key, this.#hash(key))
    if (slot !== NONE) this.#remove(slot)
  }

  /** Forgets every bucket and concurrency slot, or those whose key starts with `prefix`. */
  clear (prefix?: string): void {
    if (prefix === undefined || prefix === '') {
      this.#slots.clear()
      this.#allocate(Math.min(this.maxKeys, FIRST_CAPACITY))
      return
    }
    for (const key of this.#slots.keys()) {
      if (key.startsWith(prefix)) this.#slots.delete(key)
    }
    for (let slot = 0; slot < this.#used; slot++) {
      const key = this.#keys[slot]
      if (key !== undefined && key.startsWith(prefix)) this.#remove(slot)
    }
  }

  /** Removes buckets whose state has expired; runs on the cleanup timer. */
  sweep (now: number = this.#clock()): number {
    let removed = 0
    const expires = this.#expires
    for (let slot = 0; slot < this.#used; slot++) {
      if (this.#keys[slot] !== undefined && expires[slot] <= now) {
        this.#remove(slot)
        removed++
      }
    }
    return removed
  }

  stats (): MemoryStoreStats {
    let bytes = this.#table.byteLength + this.#capacity * (8 + 4 + 4 + 4 + 8 + 1 + 8 + 4 + 4)
    for (let slot = 0; slot < this.#used; slot++) {
      const key = this.#keys[slot]
      if (key === undefined) continue
      // a flat one-byte string: 16 bytes of header, then the characters, 8-byte aligned
      bytes += 16 + ((key.length + 7) & ~7)
      // other states: their JSON length as a proxy, plus the array slot
      if (this.#kinds[slot] === OBJECT) bytes += 8 + JSON.stringify((this.#objects as unknown[])[slot]).length * 2
    }
    return { keys: this.#size, maxKeys: this.maxKeys, evictions: this.#evictions, bytes }
  }

  close (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Gives `cost` back to every bucket (see `Store.refund`); synchronous, so atomic. */
  refund (buckets: readonly StoreBucket[], cost: number, now: number = this.#clock()): void {
    for (const { key, algorithm, params } of buckets) {
      const hash = this.#hash(key)
      const slot = this.#find(key, hash)
      const { state, ttlMs } = algorithm.refund(slot === NONE ? undefined : this.#state(slot, now), now, cost, params)
      if (state !== undefined) {
        this.#write(this.#claim(slot, key, hash), algorithm, state, now + ttlMs)
      } else if (slot !== NONE) {
        // an empty bucket is no state
        this.#remove(slot)
      }
    }
  }

  /**
   * Charges `cost` to every bucket whatever it holds (see `Store.charge`); synchronous, so
   * atomic. A bucket charged is made the most recently used, as by `consume`: evicting one in
   * debt would forgive the debt.
   */
  charge (buckets: readonly StoreBucket[], cost: number, now: number = this.#clock()): void {
    for (const { key, algorithm, params } of buckets) {
      // a ban's gate is never charged (algorithms/ban.ts)
      if (algorithm.gate === true) continue
      const hash = this.#hash(key)
      const slot = this.#lookup(key, hash)
      const { state, ttlMs } = algorithm.charge(slot === NONE ? undefined : this.#state(slot, now), now, cost, params)
      this.#write(this.#claim(slot, key, hash), algorithm, state, now + ttlMs)
    }
  }

  /** The decision `consume` would return now, with nothing written nor moved in the LRU order. */
  peek (buckets: readonly StoreBucket[], cost = 1, now: number = this.#clock()): StoreDecision {
    const current: unknown[] = new Array(buckets.length)
    for (let i = 0; i < buckets.length; i++) {
      const slot = this.#find(buckets[i].key, this.#hash(buckets[i].key))
      current[i] = slot === NONE ? undefined : this.#state(slot, now)
    }
    return evaluate(buckets, current, cost, now).decision
  }

  /**
   * Counts one denial toward a ban (see `Store.strike`); synchronous, so atomic. The ban state
   * is kept in the buckets' slots, where the gate of `consume` reads it, expires and is swept
   * like them, and `clear(prefix)` and `reset(key)` forget it.
   */
  strike (key: string, rule: BanRule, now: number = this.#clock()): BanStrike {
    const hash = this.#hash(key)
    const slot = this.#lookup(key, hash)
    const result = banStrike(slot === NONE ? undefined : this.#state(slot, now) as Parameters<typeof banStrike>[0], now, rule)
    if (result.state !== undefined) this.#write(this.#claim(slot, key, hash), banGateAlgorithm, result.state, now + result.ttlMs)
    return { until: result.until, started: result.started }
  }

  // acquire and release: a concurrency limit's slots, a set of tokens per key (one process:
  // no leases needed, its slots end with it)

  readonly #slots = new Map<string, Set<string>>()
  #nextToken = 0

  /** Takes one of `limit` slots under `key` (see `Store.acquire`). */
  acquire (key: string, limit: number, _leaseMs?: number, _now?: number): SlotGrant {
    let held = this.#slots.get(key)
    if (held === undefined) {
      held = new Set()
      this.#slots.set(key, held)
    }
    if (held.size >= limit) return { allowed: false, inFlight: held.size, token: '' }
    const token = String(++this.#nextToken)
    held.add(token)
    return { allowed: true, inFlight: held.size, token }
  }

  /** Gives back the slot `token` names (see `Store.release`). */
  release (key: string, token: string): void {
    const held = this.#slots.get(key)
    if (held === undefined || !held.delete(token)) return
    if (held.size === 0) this.#slots.delete(key)
  }

  /** A seeded 32-bit hash of the key (FNV-1a steps, then murmur3's finaliser). */
  #hash (key: string): number {
    let h = this.#seed
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
    return h ^ (h >>> 16)
  }

  /** The key's slot, or NONE. */
  #find (key: string, hash: number): number {
    const table = this.#table
    let i = hash & this.#mask
    for (let entry = table[i]; entry !== 0; entry = table[i]) {
      const slot = entry - 1
      if (this.#hashes[slot] === hash && this.#keys[slot] === key) return slot
      i = (i + 1) & this.#mask
    }
    return NONE
  }

  /** The key's slot (made the most recently used), or NONE. */
  #lookup (key: string, hash: number): number {
    const slot = this.#find(key, hash)
    if (slot !== NONE && slot !== this.#newest) {
      this.#unlink(slot)
      this.#append(slot)
    }
    return slot
  }

  /** The slot's state, or undefined once it has expired. */
  #state (slot: number, now: number): unknown {
    if (this.#expires[slot] <= now) return undefined
    switch (this.#kinds[slot]) {
      case FIXED: return { w: this.#window[slot], c: this.#count[slot] }
      case SLIDING: return { w: this.#window[slot], c: this.#count[slot], p: this.#previous[slot] }
      default: return (this.#objects as unknown[])[slot]
    }
  }

  /** `slot`, or a new slot for `key` when `slot` is NONE. */
  #claim (slot: number, key: string, hash: number): number {
    return slot === NONE ? this.#insert(key, hash) : slot
  }

  /** Stores `state` in `slot`. */
  #write (slot: number, algorithm: Algorithm<any>, state: unknown, expires: number): void {
    this.#expires[slot] = expires
    const s = state as { w: number, c: number, p?: number }
    if (algorithm === fixedWindowAlgorithm && isCount(s.c)) {
      this.#kinds[slot] = FIXED
      this.#window[slot] = s.w
      this.#count[slot] = s.c
    } else if (algorithm === slidingWindowAlgorithm && isCount(s.c) && isCount(s.p)) {
      this.#kinds[slot] = SLIDING
      this.#window[slot] = s.w
      this.#count[slot] = s.c
      this.#previous[slot] = s.p as number
    } else {
      this.#kinds[slot] = OBJECT
      this.#objects ??= []
      this.#objects[slot] = state
    }
  }

  /** A slot for a new key: a free one, a new one (growing the arrays), or the evicted LRU one. */
  #insert (key: string, hash: number): number {
    let slot: number
    if (this.#free !== NONE) {
      slot = this.#free
      this.#free = this.#next[slot]
    } else if (this.#used < this.#capacity || this.#grow()) {
      slot = this.#used++
    } else {
      slot = this.#oldest
      this.#remove(slot)
      this.#evictions++
      this.#free = this.#next[slot]
    }
    // keys arrive as concatenations (ropes); keep a flat copy, which is half the size
    this.#keys[slot] = JSON.parse(JSON.stringify(key))
    this.#hashes[slot] = hash
    this.#append(slot)
    this.#size++
    let i = hash & this.#mask
    while (this.#table[i] !== 0) i = (i + 1) & this.#mask
    this.#table[i] = slot + 1
    return slot
  }

  /** Deletes a slot's key and puts the slot on the free list. */
  #remove (slot: number): void {
    const table = this.#table
    const mask = this.#mask
    let i = this.#hashes[slot] & mask
    while (table[i] !== slot + 1) i = (i + 1) & mask
    // backward-shift deletion: no tombstones, so lookups never slow down with churn
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const home = this.#hashes[table[j] - 1] & mask
      const stays = i <= j ? (i < home && home <= j) : (i < home || home <= j)
      if (!stays) {
        table[i] = table[j]
        i = j
      }
    }
    table[i] = 0
    this.#unlink(slot)
    this.#keys[slot] = undefined
    if (this.#objects !== undefined) this.#objects[slot] = undefined
    this.#next[slot] = this.#free
    this.#free = slot
    this.#size--
  }

  #unlink (slot: number): void {
    const prev = this.#prev[slot]
    const next = this.#next[slot]
    if (prev === NONE) this.#oldest = next
    else this.#next[prev] = next
    if (next === NONE) this.#newest = prev
    else this.#prev[next] = prev
  }

  #append (slot: number): void {
    this.#prev[slot] = this.#newest
    this.#next[slot] = NONE
    if (this.#newest === NONE) this.#oldest = slot
    else this.#next[this.#newest] = slot
    this.#newest = slot
  }

  /** Doubles the slots (up to maxKeys) and rebuilds the table; false when already at maxKeys. */
  #grow (): boolean {
    if (this.#capacity >= this.maxKeys) return false
    const capacity = Math.min(this.maxKeys, this.#capacity * 2)
    const copy = <T extends Int32Array | Uint32Array | Float64Array | Uint8Array>(from: T, to: T): T => {
      to.set(from)
      return to
    }
    this.#hashes = copy(this.#hashes, new Int32Array(capacity))
    this.#prev = copy(this.#prev, new Int32Array(capacity))
    this.#next = copy(this.#next, new Int32Array(capacity))
    this.#expires = copy(this.#expires, new Float64Array(capacity))
    this.#kinds = copy(this.#kinds, new Uint8Array(capacity))
    this.#window = copy(this.#window, new Float64Array(capacity))
    this.#count = copy(this.#count, new Uint32Array(capacity))
    this.#previous = copy(this.#previous, new Uint32Array(capacity))
    this.#capacity = capacity
    this.#rebuildTable()
    return true
  }

  #rebuildTable (): void {
    let size = 2
    while (size < this.#capacity * 2) size *= 2
    this.#table = new Int32Array(size)
    this.#mask = size - 1
    // the arrays only grow once the free list is empty, so every slot below #used holds a key
    for (let slot = 0; slot < this.#used; slot++) {
      let i = this.#hashes[slot] & this.#mask
      while (this.#table[i] !== 0) i = (i + 1) & this.#mask
      this.#table[i] = slot + 1
    }
  }

  /** Empty arrays for `capacity` slots. */
  #allocate (capacity: number): void {
    this.#capacity = capacity
    this.#used = 0
    this.#size = 0
    this.#free = NONE
    this.#oldest = NONE
    this.#newest = NONE
    this.#keys = []
    this.#hashes = new Int32Array(capacity)
    this.#prev = new Int32Array(capacity)
    this.#next = new Int32Array(capacity)
    this.#expires = new Float64Array(capacity)
    this.#kinds = new Uint8Array(capacity)
    this.#window = new Float64Array(capacity)
    this.#count = new Uint32Array(capacity)
    this.#previous = new Uint32Array(capacity)
    this.#objects = undefined
    this.#rebuildTable()
  }
}

/** Whether a count fits a Uint32 column exactly. */
function isCount (value: unknown): value is number {
  return typeof value === 'number' && value >>> 0 === value
}
