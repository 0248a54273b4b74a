/**
 * The public types of fastify-limiter, in one place, and the Fastify module augmentations that
 * type `config.rateLimit`, `fastify.rateLimit` and `request.rateLimit`. The package entry
 * re-exports everything here, so the published declarations come from this file.
 */
import type { RateLimitApi } from '../lib/api.js'
import type { RouteRateLimit } from '../lib/config/schema.js'
import type { RateLimitDecision } from '../lib/core/types.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's rate limit: a rate string, `false`, or `{ ip, user, key + rate, cost, algorithm, burst, group, dryRun }`. */
    rateLimit?: RouteRateLimit
  }
  interface FastifyInstance {
    /** Resets, stats, the store, and `hook(limit)`. */
    rateLimit: RateLimitApi
  }
  interface FastifyRequest {
    /** The rate-limit decision for this request, or `undefined` where no limit applied. */
    rateLimit: RateLimitDecision | undefined
  }
}

export type { FastifyLimiterOptions, RouteRateLimit, RateLimit, RateLimitObject, RateString, RateUnit } from '../lib/config/schema.js'
export type { Rate, RateInput } from '../lib/config/rate.js'
export type { RateLimitDecision, LimitContext, BucketKind, Identity, HookName, StoreErrorMode, LogLevel, MetricsInput, MetricsRegistry } from '../lib/core/types.js'
export type { RateLimitApi, ResetSelector, LimiterStats } from '../lib/api.js'
export type { Counters, BucketCounters, RouteCounters, CounterSnapshot } from '../lib/observe/report.js'
export type { OpenApiInput } from '../lib/observe/openapi.js'
export type { LogInput } from '../lib/observe/logging.js'
export type { Store, StoreBucket, StoreDecision, StoreStats } from '../lib/core/store.js'
export type { Evaluation } from '../stores/store.js'
export type { Algorithm, AlgorithmName, AlgorithmParams, AlgorithmResult, Decision } from '../lib/core/algorithm.js'
export type { MemoryStoreOptions, MemoryStoreStats } from '../stores/memory.js'
export type { SqliteStoreOptions, SqliteStoreStats } from '../stores/sqlite.js'
export type { RedisStoreOptions, RedisStoreStats, RedisClient } from '../stores/redis.js'
