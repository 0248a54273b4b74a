import type { Algorithm, AlgorithmParams, BanRule, Decision } from './algorithm.js'

/**
 * The store contract: what every store (memory, SQLite, Redis, a custom one) implements, and
 * what the plugin hands it. Kept on the ground floor so that the plugin's shared types can
 * name a store without importing stores/.
 */

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

/**
 * What a store call answers to without a promise: exactly one of the two, once. The built-in
 * shared stores' internal fast path (`consumeTo`) takes one, so that a request on Redis costs
 * no promise, no closure and no microtask between the store's reply and the plugin's decision.
 * @internal
 */
export interface DecisionSink<T = StoreDecision> {
  decided (decision: T): void
  failed (err: unknown): void
}

/**
 * The key of a built-in store's internal method `(buckets, cost, now, sink) => void`: `consume`
 * answered through `sink`, never by throwing. The plugin uses it when a store has it, and
 * `consume` otherwise (custom stores never need it).
 * @internal
 */
export const consumeTo = Symbol('fastify-limiter.consumeTo')

/** What `Store.acquire` returns. */
export interface SlotGrant {
  /** True when a slot was taken (fewer than `limit` were held). */
  allowed: boolean
  /** Slots held under the key now: with this one when allowed, else the `limit` that is full. */
  inFlight: number
  /** Names the slot taken, for `release`; `''` when none was. */
  token: string
}

/** What `Store.strike` returns. */
export interface BanStrike {
  /** Epoch ms the identity's ban ends; a value not after the strike's time: not banned. */
  until: number
  /** True when this strike started the ban: exactly one strike per ban gets it. */
  started: boolean
}

/** What `stats()` returns; stores may add fields of their own. */
export interface StoreStats {
  /** Buckets currently held. */
  keys: number
  [field: string]: unknown
}

/**
 * What the plugin hands a store when it starts (`Store.ready`), so that the store, which has no
 * logger, can report what the plugin logs.
 */
export interface StoreEvents {
  /**
   * A stored state did not parse (a row or value this store did not write): the store read it
   * as an empty bucket and deleted it, so this is called once per damage. Never a store failure.
   */
  damaged (key: string): void
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
  /** Forget one bucket, or the concurrency slots held under `key` (a store with `acquire`). */
  reset (key: string): void | Promise<void>
  /**
   * Forget every bucket whose key starts with `prefix` (the plugin passes its own key prefix,
   * `'<keyPrefix>:{'`, or `'{'` for an empty one, so that apps sharing a store clear only their
   * own buckets); every bucket this store holds when `prefix` is omitted or `''`. A store with
   * `acquire` forgets the concurrency slots under those keys too.
   */
  clear (prefix?: string): void | Promise<void>
  stats (): StoreStats | Promise<StoreStats>
  /**
   * Optional: resolves once the store can answer (a Redis client connected), or rejects with
   * the reason it cannot yet. The plugin awaits it in `onReady`, for a bounded time, so that the
   * first requests are decided by the store rather than by `onStoreError`; it logs one line when
   * the store is not ready, and starts anyway. Custom stores may omit it.
   */
  ready? (events: StoreEvents): void | Promise<void>
  /**
   * Release timers and connections. The plugin calls it on Fastify close for a store it made (the
   * default memory store, `sqlite`, `redis`); a store passed as `store` is the caller's to close.
   */
  close (): void | Promise<void>
  /**
   * Gives `cost` back to every bucket, atomically (all or none), through each algorithm's
   * `refund`: for a request that was charged and should not count (the `count` option). Never
   * takes a bucket below empty; a bucket with no state is left without one.
   *
   * Optional, so that custom stores written before it keep working: the plugin checks for it
   * at registration when a feature needs it (`missingOptionalMethods`). The built-in stores
   * all have it.
   * @param now epoch ms to refund at; when omitted the store uses its own clock
   */
  refund? (buckets: readonly StoreBucket[], cost: number, now?: number): void | Promise<void>
  /**
   * Charges `cost` to every bucket, atomically (all or none), through each algorithm's
   * `charge`, whatever the buckets hold: for a cost settled after the response above what was
   * charged on arrival. Never denies: a bucket may go past its limit into debt (it then
   * denies until its refill or its window pays the debt back; docs/algorithms.md), up to the
   * bound `maxHeld(params)` (algorithms/debt.ts). A bucket with no state is charged from
   * empty; a ban's gate (`gate: true`) is skipped, as `consume` skips its write.
   *
   * Optional, like `refund`: a feature that needs it refuses a store without it
   * (`missingOptionalMethods(store, ['charge'])`). The built-in stores all have it.
   * @param cost an integer >= 1, of any size (a charge past the bound charges the bound)
   * @param now epoch ms to charge at; when omitted the store uses its own clock
   */
  charge? (buckets: readonly StoreBucket[], cost: number, now?: number): void | Promise<void>
  /**
   * The decision `consume(buckets, cost, now)` would return now, with nothing written: what
   * `fastify.rateLimit.peek()` reports. Optional like `refund`.
   * @param cost default 1
   */
  peek? (buckets: readonly StoreBucket[], cost?: number, now?: number): StoreDecision | Promise<StoreDecision>
  /**
   * Takes one of `limit` slots under `key` (a concurrency limit: requests in flight), when
   * fewer than `limit` live ones are held; atomic, like `consume`. A slot is a lease that
   * expires `leaseMs` after it was taken, so the slots of a process that died come back by
   * themselves. Optional, like `refund`: a route with `concurrency` refuses a store without it.
   * @param now epoch ms to decide at; when omitted the store uses its own clock
   */
  acquire? (key: string, limit: number, leaseMs: number, now?: number): SlotGrant | Promise<SlotGrant>
  /** Gives back the slot `token` names under `key`; a slot already given back or expired is a no-op. */
  release? (key: string, token: string): void | Promise<void>
  /**
   * Counts one denial of the identity whose ban state `key` holds (the `ban` option),
   * atomically, through algorithms/ban.ts `banStrike`: while banned nothing changes (with
   * `rule.extend`, the ban starts again, still the same ban: not `started`); otherwise the
   * denial is counted and the `rule.after`-th within `rule.windowMs` starts a ban, and only
   * that call reports `started`. Optional, like `refund`: a route with `ban` refuses a store without it.
   * @param now epoch ms to decide at; when omitted the store uses its own clock
   */
  strike? (key: string, rule: BanRule, now?: number): BanStrike | Promise<BanStrike>
  /** @internal see `consumeTo` */
  [consumeTo]? (buckets: readonly StoreBucket[], cost: number, now: number | undefined, sink: DecisionSink): void
}
