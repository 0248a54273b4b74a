/**
 * The algorithm contract. Every algorithm is a pure function of
 * `(state | undefined, now, cost, params)` on integer milliseconds: nothing here reads a
 * clock, a store or a request. The memory and SQLite stores call these functions; the
 * Redis store runs their Lua twins, and the store conformance suite proves they agree.
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
 * A rate-limiting algorithm. `consume` must be pure and deterministic, accept `state`
 * exactly as it returned it after a JSON round trip, and expects `1 <= cost <= params.burst`
 * (the plugin guarantees it).
 */
export interface Algorithm<S = unknown> {
  readonly name: AlgorithmName
  /** Short code used inside store keys, so that changing a route's algorithm never reads another shape of state. */
  readonly code: string
  /** Whether the route option `burst` applies to this algorithm. */
  readonly usesBurst: boolean
  consume (state: S | undefined, now: number, cost: number, params: AlgorithmParams): AlgorithmResult<S>
}
