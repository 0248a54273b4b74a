import Type from 'typebox'
import type { Static } from 'typebox'
import type { FastifyRequest } from 'fastify'
import type { AlgorithmName } from '../core/algorithm.js'
import type { Store } from '../core/store.js'
import type { Identity, LimitContext, LogLevel, MetricsRegistry, StoreErrorMode } from '../core/types.js'
import type { RedisClient } from '../../stores/redis.js'

/**
 * The TypeBox schemas of the plugin options and of a route's `config.rateLimit`. The
 * public option types are derived from them (`Static`), so the registration check and the
 * compile-time check can never drift apart. Function-valued options are checked as
 * functions; `Type.Unsafe` gives them their precise TypeScript signature.
 */

/** The units a rate string accepts (see lib/rate.ts). */
export type RateUnit =
  | 'ms' | 's' | 'sec' | 'second' | 'seconds' | 'm' | 'min' | 'minute' | 'minutes'
  | 'h' | 'hr' | 'hour' | 'hours' | 'd' | 'day' | 'days'

/** `'<count>/<window>'`: `'10/min'`, `'3/5min'`, `'20/30s'`. Checked again at registration. */
export type RateString = `${number}/${RateUnit}` | `${number}/${number}${RateUnit}`

/** What a request-function option receives and may return. */
type RequestFunction<R> = (request: FastifyRequest) => R

const fn = <T>(description: string) =>
  Type.Unsafe<T>(Type.Function([Type.Any()], Type.Unknown(), { description }))

export const RateSchema = Type.Union([
  Type.Unsafe<RateString>(Type.String()),
  Type.Object({ limit: Type.Number(), windowMs: Type.Number() }, { additionalProperties: false })
], { description: "a rate like '10/min' or '3/5min', or { limit, windowMs }" })

export const RatesSchema = Type.Union([RateSchema, Type.Array(RateSchema, { minItems: 1 })])

export const AlgorithmSchema = Type.Unsafe<AlgorithmName>(Type.Union([
  Type.Literal('fixed-window'),
  Type.Literal('sliding-window'),
  Type.Literal('sliding-log'),
  Type.Literal('token-bucket'),
  Type.Literal('leaky-bucket'),
  Type.Literal('gcra')
]))

export const LimitObjectSchema = Type.Object({
  /** Rate(s) for anonymous traffic, per client IP. */
  ip: Type.Optional(RatesSchema),
  /** Rate(s) for signed-in traffic, per user id. */
  user: Type.Optional(RatesSchema),
  /** A custom identity (an API key, a tenant); takes `rate`. */
  key: Type.Optional(fn<RequestFunction<Identity>>('a function (request) => string | number | undefined')),
  /** Rate(s) for the `key` bucket. */
  rate: Type.Optional(RatesSchema),
  /** Cost units per request (default 1): an integer, or a function of the request returning one. */
  cost: Type.Optional(Type.Union([
    Type.Integer({ minimum: 1 }),
    fn<RequestFunction<number>>('a function (request) => number')
  ])),
  /** Algorithm for this route (default: the plugin's `algorithm`). */
  algorithm: Type.Optional(AlgorithmSchema),
  /** Capacity for token-bucket, leaky-bucket and gcra (default: the limit). */
  burst: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Routes with the same group share buckets. */
  group: Type.Optional(Type.String({ minLength: 1 })),
  /** Count and add headers, never block. */
  dryRun: Type.Optional(Type.Boolean()),
  /** What this route does when the store fails (default: the plugin's `onStoreError`). */
  onStoreError: Type.Optional(Type.Unsafe<StoreErrorMode>(Type.Union([Type.Literal('fallback'), Type.Literal('allow'), Type.Literal('deny')])))
}, { additionalProperties: false })

/** A limit: a rate string (shorthand for `{ ip }`) or an object. */
export const LimitSchema = Type.Union([Type.Unsafe<RateString>(Type.String()), LimitObjectSchema])

/** A route's `config.rateLimit`: a limit, or `false` to opt out of `global`. */
export const RouteLimitSchema = Type.Union([Type.Literal(false), LimitSchema])

/** What each top-level key of a limit must be, for error messages. */
export const limitExpectations: Record<string, string> = {
  '': "a rate string like '10/min', false, or an object with ip, user, key, rate, cost, algorithm, burst, group, dryRun, onStoreError",
  ip: "a rate like '10/min' or '3/5min', { limit, windowMs }, or a non-empty array of them",
  user: "a rate like '10/min' or '3/5min', { limit, windowMs }, or a non-empty array of them",
  key: 'a function (request) => string | number | undefined',
  rate: "a rate like '10/min' or '3/5min', { limit, windowMs }, or a non-empty array of them",
  cost: 'a positive integer or a function (request) => number',
  algorithm: "one of 'fixed-window', 'sliding-window', 'sliding-log', 'token-bucket', 'leaky-bucket', 'gcra'",
  burst: 'a positive integer',
  group: 'a non-empty string',
  dryRun: 'a boolean',
  onStoreError: "one of 'fallback', 'allow', 'deny'"
}

export const HeaderNamesSchema = Type.Object({
  limit: Type.Optional(Type.String({ minLength: 1 })),
  remaining: Type.Optional(Type.String({ minLength: 1 })),
  reset: Type.Optional(Type.String({ minLength: 1 })),
  retryAfter: Type.Optional(Type.String({ minLength: 1 }))
}, { additionalProperties: false })

export const HeadersSchema = Type.Union([
  Type.Literal('legacy'),
  Type.Literal('ietf'),
  Type.Literal(false),
  HeaderNamesSchema
])

/** A pino level for a log line, or false for none. */
const LogLevelSchema = Type.Unsafe<LogLevel>(Type.Union(
  [...['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((level) => Type.Literal(level)), Type.Literal(false)]
))

export const PluginOptionsSchema = Type.Object({
  store: Type.Optional(Type.Unsafe<Store>(Type.Object({}))),
  sqlite: Type.Optional(Type.Union([
    Type.String({ minLength: 1 }),
    Type.Object({
      path: Type.String({ minLength: 1 }),
      cleanupIntervalMs: Type.Optional(Type.Integer({ minimum: 1 })),
      busyTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }))
    }, { additionalProperties: false })
  ])),
  redis: Type.Optional(Type.Union([
    Type.Literal(true),
    Type.String({ pattern: '^rediss?://' }),
    Type.Unsafe<RedisClient>(Type.Object({}))
  ])),
  algorithm: Type.Optional(AlgorithmSchema),
  global: Type.Optional(LimitSchema),
  user: Type.Optional(fn<RequestFunction<Identity>>('a function (request) => string | number | undefined')),
  hook: Type.Optional(Type.Union([Type.Literal('onRequest'), Type.Literal('preValidation'), Type.Literal('preHandler')])),
  keyPrefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{0,64}$' })),
  headers: Type.Optional(HeadersSchema),
  errorResponseBuilder: Type.Optional(fn<(request: FastifyRequest, context: LimitContext) => unknown>('a function (request, context) => body')),
  exempt: Type.Optional(Type.Union([
    Type.Array(Type.String()),
    fn<RequestFunction<boolean>>('a function (request) => boolean')
  ])),
  dryRun: Type.Optional(Type.Boolean()),
  onStoreError: Type.Optional(Type.Unsafe<StoreErrorMode>(Type.Union([Type.Literal('fallback'), Type.Literal('allow'), Type.Literal('deny')]))),
  storeTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000 })),
  ipv6Subnet: Type.Optional(Type.Integer({ minimum: 1, maximum: 128 })),
  onExceeded: Type.Optional(fn<(request: FastifyRequest, context: LimitContext) => void>('a function (request, context) => void')),
  clock: Type.Optional(fn<() => number>('a function () => epoch milliseconds')),
  openapi: Type.Optional(Type.Union([
    Type.Boolean(),
    Type.Object({ errorSchema: Type.Optional(Type.Unsafe<Record<string, unknown>>(Type.Object({}))) }, { additionalProperties: false })
  ])),
  metrics: Type.Optional(Type.Union([
    Type.Boolean(),
    Type.Object({
      registry: Type.Optional(Type.Unsafe<MetricsRegistry>(Type.Object({}))),
      prefix: Type.Optional(Type.String({ pattern: '^([A-Za-z_:][A-Za-z0-9_:]*)?$' }))
    }, { additionalProperties: false })
  ])),
  log: Type.Optional(Type.Object({
    denied: Type.Optional(LogLevelSchema),
    dryRun: Type.Optional(LogLevelSchema),
    identity: Type.Optional(Type.Union([Type.Literal('hash'), Type.Literal('raw'), Type.Literal(false)]))
  }, { additionalProperties: false }))
}, { additionalProperties: false })

/** What each plugin option must be, for error messages. */
export const optionExpectations: Record<string, string> = {
  store: 'a store instance (consume, reset, clear, stats, close)',
  sqlite: "a database file path like 'limits.db', or { path, cleanupIntervalMs, busyTimeoutMs }",
  redis: "a URL like 'redis://localhost:6379', an ioredis client or Cluster, or true to use fastify.redis from @fastify/redis",
  algorithm: limitExpectations.algorithm,
  global: "a rate string like '10/min' or a limit object { ip, user, key, rate, cost, algorithm, burst, group, dryRun, onStoreError }",
  user: 'a function (request) => string | number | undefined',
  hook: "one of 'onRequest', 'preValidation', 'preHandler'",
  keyPrefix: 'up to 64 characters of A-Z a-z 0-9 . _ : -',
  headers: "'legacy', 'ietf', false, or { limit, remaining, reset, retryAfter } header names",
  errorResponseBuilder: 'a function (request, context) => body',
  exempt: "an array of IPs and CIDRs like ['127.0.0.1', '10.0.0.0/8'], or a function (request) => boolean",
  dryRun: 'a boolean',
  onStoreError: "one of 'fallback', 'allow', 'deny'",
  storeTimeoutMs: 'an integer from 1 to 60000 (milliseconds)',
  ipv6Subnet: 'an integer from 1 to 128',
  onExceeded: 'a function (request, context) => void',
  clock: 'a function () => epoch milliseconds',
  openapi: 'true, false, or { errorSchema } (the JSON schema of your 429 body)',
  metrics: "true (prom-client's default registry), false, or { registry, prefix } with a metric-name prefix of A-Z a-z 0-9 _ :",
  log: "{ denied, dryRun, identity }: levels 'trace' to 'fatal' or false, and identity 'hash', 'raw' or false"
}

/** A route's `config.rateLimit`, as TypeScript sees it. */
export type RouteRateLimit = Static<typeof RouteLimitSchema>
/** A limit (route config without `false`): what `global` and `fastify.rateLimit.hook()` take. */
export type RateLimit = Static<typeof LimitSchema>
/** The object form of a limit. */
export type RateLimitObject = Static<typeof LimitObjectSchema>
/** The plugin options. */
export type FastifyLimiterOptions = Static<typeof PluginOptionsSchema>
