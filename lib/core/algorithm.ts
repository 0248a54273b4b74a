/**
 * The algorithm contract. Every algorithm is a pure function of
 * `(state | undefined, now, cost, params)` on integer milliseconds: nothing here reads a
 * clock, a store or a request. The memory and SQLite stores call these functions; the
 * Redis store runs their Lua twins, kept in the same file as each function, and
 * test/stores/redis/agreement.test.ts proves they agree.
 */

/** The six algorithm names accepted by the `algorithm` option. */
export type AlgorithmName =
  | 'fixed-window'
  | 'sliding-window'
  | 'sliding-log'
  | 'token-bucket'
  | 'leaky-bucket'
  | 'gcra'

/** One rate `limit / windowMs`, resolved once at route registration. Every field is an integer. */
export interface AlgorithmParams {
  /** L: cost units allowed per window. */
  readonly limit: number
  /** W: window length in milliseconds. */
  readonly windowMs: number
  /**
   * Capacity of the bucket: the most cost that can pass at one instant. `token-bucket`,
   * `leaky-bucket` and `gcra` take it from the route's `burst` (default `limit`); the window
   * algorithms always have `burst === limit`.
   */
  readonly burst: number
}

/** What one bucket decided for one request. */
export interface Decision {
  /** True when the request may pass; a denied request consumed nothing. */
  allowed: boolean
  /** The limit of the rate that decided (L). */
  limit: number
  /** Cost units still available now (after this request when it was allowed); never negative. */
  remaining: number
  /** Epoch milliseconds at which, with no further traffic, the bucket is fully available again. */
  resetMs: number
  /**
   * Milliseconds until the same request, with no other traffic, is allowed: exact to the
   * millisecond (1 ms earlier it is still denied). 0 when allowed.
   */
  retryAfterMs: number
}

/** The result of one pure consume step. */
export interface AlgorithmResult<S> {
  /**
   * The state to store when the request is allowed. When it is denied the stores keep the old
   * state (a denied request consumes nothing), so what is returned here is not written.
   */
  state: S
  decision: Decision
  /** How long the state must be kept from `now`; after that it is equivalent to no state. At least 1. */
  ttlMs: number
}

/**
 * The result of one pure refund step: the state to store, or `undefined` when the bucket is
 * empty again (no state: the store deletes the key).
 */
export interface RefundResult<S> {
  state: S | undefined
  /** How long `state` must be kept from `now`; at least 1 when there is a state, 0 when not. */
  ttlMs: number
}

/**
 * The result of one pure charge step: the state to store (a charge always leaves one, since
 * it charges at least 1 unit), for `ttlMs` from `now`.
 */
export interface ChargeResult<S> {
  state: S
  /** How long `state` must be kept from `now`: until a debt it holds is paid back. At least 1. */
  ttlMs: number
}

/**
 * A rate-limiting algorithm. `consume` must be pure and deterministic, accept `state`
 * exactly as it returned it after a JSON round trip or a round trip through its text form
 * (algorithms/encoding.ts), and expects `1 <= cost <= params.burst` (the plugin guarantees it).
 */
export interface Algorithm<S = unknown> {
  readonly name: AlgorithmName
  /** Short code used inside store keys, so that changing a route's algorithm never reads another shape of state. */
  readonly code: string
  /** Whether the route option `burst` applies to this algorithm. */
  readonly usesBurst: boolean
  /**
   * Set only on the internal gate of a route with a `ban` (algorithms/ban.ts): a bucket that
   * reads its state and may deny, but whose state `consume` never writes. Stores skip its write
   * (in their loops over several buckets: a gate never comes alone, the route's buckets follow it).
   */
  readonly gate?: true
  /**
   * The state's integer fields, in the order its text form (algorithms/encoding.ts) writes them
   * and the Lua twin reads them (`s[1]`, `s[2]`, ...).
   */
  readonly fields: readonly string[]
  /**
   * For a state of variable length: its parallel arrays of integers, written after `fields` as
   * one tuple per entry (sliding-log: `d` and `c`). Absent when the state has a fixed length.
   */
  readonly entries?: readonly string[]
  /**
   * The Lua twin of `consume`, run inside Redis: a chunk that assigns
   * `steps.<code> = function (s, now, cost, p)` (with any local helpers before it), where `s` is
   * the state's integers in the order of its text form (nil for no state) and `p` holds
   * `limit`, `windowMs` and `burst`. The step returns
   * `allowed, remaining, resetMs, retryAfterMs[, state, ttlMs]` (the state, as integers in the
   * same order, only when allowed), deciding bit for bit as `consume`; the chunk may use the
   * prelude's locals `floor`, `ceil`, `fmod`, `max` (stores/redis-scripts.ts) and
   * `ceilMulDiv` (algorithms/rational.ts).
   */
  readonly lua: string
  consume (state: S | undefined, now: number, cost: number, params: AlgorithmParams): AlgorithmResult<S>
  /**
   * The Lua twin of `refund`: a chunk that assigns `refunds.<code> = function (s, now, cost, p)`
   * (same arguments as the `lua` step) returning `state, ttlMs`, with `state` nil when the
   * bucket is empty again (the script then deletes the key).
   */
  readonly refundLua: string
  /**
   * Gives `cost` units back at `now`, as for a request that was charged and should not count
   * (the `count` option). Takes the bucket's newest units first and never takes it below
   * empty; a consume followed by its refund, with nothing charged to the bucket in between,
   * leaves the state as if the request never came (docs/algorithms.md says when it is not
   * exact). Pure, like `consume`, and for any `cost >= 1`.
   */
  refund (state: S | undefined, now: number, cost: number, params: AlgorithmParams): RefundResult<S>
  /**
   * The Lua twin of `charge`: a chunk that assigns `charges.<code> = function (s, now, cost, p)`
   * (same arguments as the `lua` step) returning `state, ttlMs`. It runs after the consume
   * twin's chunk, whose helpers it may use, and may call the charge script's local
   * `maxHeld(p)` (algorithms/debt.ts).
   */
  readonly chargeLua: string
  /**
   * Charges `cost` units at `now` whatever the bucket holds, as for a request whose cost,
   * settled after its response, is more than it was charged on arrival: the bucket may go past
   * its capacity, into debt. A bucket in debt shows `remaining` 0 and denies until the debt is
   * paid back, by the refill (the buckets) or by the window the units were counted in (the
   * window algorithms), and `consume`, `refund` and `retryAfterMs` stay exact on it. A charge
   * saturates at `maxHeld(params)` units held (algorithms/debt.ts), so that every number stays
   * an exact integer; a charge followed by a refund of the same cost, with nothing in between,
   * leaves the bucket as it was wherever the refund is exact (docs/algorithms.md). Pure, like
   * `consume`, and for any integer `cost >= 1` (past the bound is the bound).
   */
  charge (state: S | undefined, now: number, cost: number, params: AlgorithmParams): ChargeResult<S>
}

/** A route's `ban` option, resolved to integers, with the window of the rate that denied: what a strike needs. */
export interface BanRule {
  /** Denials within one window of the rate that start a ban. */
  readonly after: number
  /** The first ban's length, ms. */
  readonly forMs: number
  /** The backoff factor in thousandths (1.5 is 1500): each further ban lasts that much longer. */
  readonly backoffMilli: number
  /** The longest ban, ms. */
  readonly maxMs: number
  /** The window of the rate whose denial is counted, ms: strikes further apart start over. */
  readonly windowMs: number
  /**
   * The longest window of the identity's rates, ms (absent: `windowMs`): a count of strikes is
   * kept that long from its first strike, since a later denial by that rate still counts it.
   */
  readonly longestWindowMs?: number
  /**
   * The ban option's `extend`: a strike during a ban starts it again, as long as a ban of its
   * level (absent: false, a strike during a ban changes nothing).
   */
  readonly extend?: boolean
}
