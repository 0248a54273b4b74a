/**
 * The public types of fastify-limiter, in one place, and the Fastify module augmentations that
 * type `config.rateLimit`, `fastify.rateLimit` and `request.rateLimit`. The package entry
 * re-exports everything here, so the published declarations come from this file.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { RateLimitApi } from '../lib/api.js'
import type { FastifyLimiterOptions, RouteRateLimit } from '../lib/config/schema.js'
import type { RateLimitDecision } from '../lib/core/types.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's rate limit: a rate string, `false`, or `{ ip, user, key + rate, cost, algorithm, burst, group, dryRun, ... }`. */
    rateLimit?: RouteRateLimit
  }
  interface FastifyInstance {
    /** Decisions outside the hook (`consume`, `peek`, `settle`), resets, stats, the store, and `hook(limit)`. */
    rateLimit: RateLimitApi
  }
  interface FastifyRequest {
    /** The rate-limit decision for this request, or `undefined` where no limit applied. */
    rateLimit: RateLimitDecision | undefined
  }
}

// FastifyRegister is declared in this file of fastify's and only re-exported by 'fastify', so it is
// augmented here (an augmentation of 'fastify' would declare a new, unrelated interface)
declare module 'fastify/types/register.js' {
  // a merged declaration repeats all of fastify's type parameters, used or not
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface FastifyRegister<T, RawServer, TypeProviderDefault, LoggerDefault> {
    /**
     * CommonJS: `import limiter = require('fastify-limiter')` (Node >= 20.19 `require()` of an ES
     * module) gives the module namespace, not the plugin; Fastify registers its `default`.
     */
    (namespace: { readonly default: FastifyPluginAsync<FastifyLimiterOptions> }, opts?: import('fastify').FastifyRegisterOptions<FastifyLimiterOptions>): T
  }
}

export type { FastifyLimiterOptions, RouteRateLimit, RateLimit, RateLimitObject, RateString, RateUnit, RateFunction, RateValue, CountMode, SettleFunction, DurationInput } from '../lib/config/schema.js'
export type { Rate, RateInput } from '../lib/config/rate.js'
export type { RateLimitDecision, LimitContext, ExceedingContext, BucketKind, Identity, HookName, StoreErrorMode, LogLevel, MetricsInput, MetricsRegistry, MaybePromise } from '../lib/core/types.js'
export type { RateLimitApi, ResetSelector, PeekSelector, ConsumeSelector, ConsumeOptions, LimiterStats } from '../lib/api.js'
export type { Counters, BucketCounters, BanCounters, RouteCounters, CounterSnapshot } from '../lib/observe/report.js'
export type { OpenApiInput } from '../lib/observe/openapi.js'
export type { LogInput } from '../lib/observe/logging.js'
export type { Store, StoreBucket, StoreDecision, StoreEvents, StoreStats, BanStrike } from '../lib/core/store.js'
export type { Evaluation } from '../stores/store.js'
export type { Algorithm, AlgorithmName, AlgorithmParams, AlgorithmResult, Decision, BanRule } from '../lib/core/algorithm.js'
export type { MemoryStoreOptions, MemoryStoreStats } from '../stores/memory.js'
export type { SqliteStoreOptions, SqliteStoreStats } from '../stores/sqlite.js'
export type { RedisStoreOptions, RedisStoreStats, RedisClient } from '../stores/redis.js'
