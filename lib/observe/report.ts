import type { FastifyBaseLogger } from 'fastify'
import type { BucketKind, CompiledLimit, LimitContext, LogOptions, RateLimitDecision } from '../core/types.js'
import { logDenial } from './logging.js'

/** How often the requests of one bucket kind of one route ended each way. */
export interface BucketCounters {
  allowed: number
  denied: number
  dryRunDenied: number
  /** Allowed with less than 20% of the limit remaining (`remaining * 5 < limit`). */
  nearLimit: number
}

/** Requests that waited instead of a 429 (the `delay` option). */
export interface DelayCounters {
  /** Requests that waited and then passed (each was also counted once as allowed). */
  delayed: number
  /** Requests whose client went away while they waited: dropped, charged nothing. */
  delayAborted: number
}

/** Requests refused by a concurrency limit (the route's `concurrency`). */
export interface ConcurrencyCounters {
  /** 429s because the identity had its `concurrency` requests in flight already. */
  concurrencyDenied: number
}

/** Bans (the `ban` option). */
export interface BanCounters {
  /** Requests answered as banned (the ban's `statusCode`), the ones that started a ban included. */
  banned: number
  /** Bans started (each also counted once in `banned`); `onBan` is called once for each. */
  bans: number
}

/** The plugin's counters, reported by `fastify.rateLimit.stats()`. */
export interface Counters extends BucketCounters, DelayCounters, ConcurrencyCounters, BanCounters {
  /** Store calls that failed or timed out. */
  storeErrors: number
  /**
   * Requests decided without the store, by the limit's `onStoreError` mode: after a store error,
   * and while the breaker keeps the store out of the way.
   */
  degraded: number
}

/**
 * One route's (or group's, or `'global'`'s) counters, and the same split by bucket kind. The
 * delay counters appear on a route once one of its requests has waited, `concurrencyDenied`
 * once one was refused by its concurrency limit, the ban counters once one was banned.
 */
export interface RouteCounters extends Omit<Counters, keyof DelayCounters | keyof ConcurrencyCounters | keyof BanCounters>, Partial<DelayCounters & ConcurrencyCounters & BanCounters> {
  buckets: Partial<Record<BucketKind, BucketCounters>>
}

/** `stats()` without the store: the totals and a `routes` breakdown keyed by route label. */
export interface CounterSnapshot extends Counters {
  routes: Record<string, RouteCounters>
}

const zero = (): BucketCounters => ({ allowed: 0, denied: 0, dryRunDenied: 0, nearLimit: 0 })

/**
 * Where the limiter reports what it decided. Every outcome of a request goes through here (and
 * nowhere else), so counters, metrics and logs are kept in one place. The request path only
 * increments numbers; metrics read them when scraped (lib/metrics.ts) and logs are written for
 * denials only, at the configured levels (lib/logging.ts).
 */
export class Reporter {
  readonly counters: Counters = { ...zero(), storeErrors: 0, degraded: 0, delayed: 0, delayAborted: 0, concurrencyDenied: 0, banned: 0, bans: 0 }
  readonly #routes = new Map<string, RouteCounters>()
  readonly #log: LogOptions

  constructor (log: LogOptions) {
    this.#log = log
  }

  allowed (limit: CompiledLimit, decision: RateLimitDecision): void {
    const route = this.#route(limit.route)
    const bucket = route.buckets[decision.bucket] ??= zero()
    this.counters.allowed++
    route.allowed++
    bucket.allowed++
    if (decision.remaining * 5 < decision.limit) {
      this.counters.nearLimit++
      route.nearLimit++
      bucket.nearLimit++
    }
  }

  /** A denial answered with a 429. */
  denied (log: FastifyBaseLogger, denial: LimitContext, identity: string): void {
    const route = this.#route(denial.route)
    this.counters.denied++
    route.denied++;
    (route.buckets[denial.bucket] ??= zero()).denied++
    logDenial(log, denial, this.#log, identity)
  }

  /** A denial let through because the limit is in dry-run mode. */
  dryRunDenied (log: FastifyBaseLogger, denial: LimitContext, identity: string): void {
    const route = this.#route(denial.route)
    this.counters.dryRunDenied++
    route.dryRunDenied++;
    (route.buckets[denial.bucket] ??= zero()).dryRunDenied++
    logDenial(log, denial, this.#log, identity)
  }

  storeError (limit: CompiledLimit): void {
    this.counters.storeErrors++
    this.#route(limit.route).storeErrors++
  }

  /** A request decided without the store (on the fallback store, let through, or a 503). */
  degraded (limit: CompiledLimit): void {
    this.counters.degraded++
    this.#route(limit.route).degraded++
  }

  /** A request passed after waiting (`delay`). */
  delayed (limit: CompiledLimit): void {
    this.counters.delayed++
    this.#delays(limit.route).delayed++
  }

  /** A waiting request's client went away: dropped without a charge. */
  delayAborted (limit: CompiledLimit): void {
    this.counters.delayAborted++
    this.#delays(limit.route).delayAborted++
  }

  /** A 429 of a concurrency limit. */
  concurrencyDenied (limit: CompiledLimit): void {
    const route = this.#route(limit.route)
    this.counters.concurrencyDenied++
    route.concurrencyDenied = (route.concurrencyDenied ?? 0) + 1
  }

  /** A request answered as banned; `started`: its denial started the ban. */
  banned (limit: CompiledLimit, started: boolean): void {
    const route = this.#route(limit.route)
    this.counters.banned++
    route.banned = (route.banned ?? 0) + 1
    route.bans ??= 0
    if (!started) return
    this.counters.bans++
    route.bans++
  }

  /** A copy of every counter, for `stats()` and metrics. */
  snapshot (): CounterSnapshot {
    const routes: Record<string, RouteCounters> = {}
    for (const [name, route] of this.#routes) {
      const buckets: RouteCounters['buckets'] = {}
      for (const [kind, counters] of Object.entries(route.buckets)) buckets[kind as BucketKind] = { ...counters }
      routes[name] = { ...route, buckets }
    }
    return { ...this.counters, routes }
  }

  #delays (name: string): DelayCounters {
    const route = this.#route(name)
    route.delayed ??= 0
    route.delayAborted ??= 0
    return route as RouteCounters & DelayCounters
  }

  #route (name: string): RouteCounters {
    let route = this.#routes.get(name)
    if (route === undefined) {
      route = { ...zero(), storeErrors: 0, degraded: 0, buckets: {} }
      this.#routes.set(name, route)
    }
    return route
  }
}
