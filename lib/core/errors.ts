import createError from '@fastify/error'

type Cause = { cause: unknown }

/**
 * Every error the plugin throws, created once. Tests assert on `code`; the README's error
 * table is checked against this registry by test/plugin/errors.test.ts. Registration errors are
 * TypeErrors (a bad option or route config); request-time errors are 500s that reach
 * Fastify's error handler with the original error as `cause`.
 */
export const errors = {
  // Registration: plugin options, route config, rates, stores.
  INVALID_OPTION: createError<'FST_LIMITER_INVALID_OPTION', 500, [string, string, string]>(
    'FST_LIMITER_INVALID_OPTION', '%s: expected %s, received %s', 500, TypeError),
  INVALID_ROUTE_CONFIG: createError<'FST_LIMITER_INVALID_ROUTE_CONFIG', 500, [string, string, string]>(
    'FST_LIMITER_INVALID_ROUTE_CONFIG', '%s: %s: %s', 500, TypeError),
  INVALID_RATE: createError<'FST_LIMITER_INVALID_RATE', 500, [string, string, string, string]>(
    'FST_LIMITER_INVALID_RATE', "%s: %s: %s is not a rate like '10/min' or '3/5min'%s", 500, TypeError),
  INVALID_STORE: createError<'FST_LIMITER_INVALID_STORE', 500, [string]>(
    'FST_LIMITER_INVALID_STORE', 'fastify-limiter option store: the store lacks %s()', 500, TypeError),
  STORE_LACKS_METHOD: createError<'FST_LIMITER_STORE_LACKS_METHOD', 500, [string, string, string]>(
    'FST_LIMITER_STORE_LACKS_METHOD', '%s: %s needs the store method %s(), which this store lacks (a custom store written before it)', 500, TypeError),

  // Request time: resolvers and cost functions given by the user, the store.
  INVALID_COST: createError<'FST_LIMITER_INVALID_COST', 500, [string, string, number]>(
    'FST_LIMITER_INVALID_COST', '%s: cost returned %s; expected an integer from 1 to %s', 500),
  INVALID_IDENTITY: createError<'FST_LIMITER_INVALID_IDENTITY', 500, [string, string, string]>(
    'FST_LIMITER_INVALID_IDENTITY', '%s: the %s resolver returned %s; expected a non-empty string, a finite number, or undefined/null for none', 500),
  INVALID_RATE_RESULT: createError<'FST_LIMITER_INVALID_RATE_RESULT', 500, [string, string, string, string]>(
    'FST_LIMITER_INVALID_RATE_RESULT', "%s: the %s rate function returned %s; expected a rate like '10/min', { limit, windowMs }, a non-empty array of them, or undefined (%s)", 500),
  // The message never holds the function's own error (its text may be private: a database
  // address, a token): that is the `cause`, which Fastify's logger prints and no client sees.
  RESOLVER_FAILED: createError<'FST_LIMITER_RESOLVER_FAILED', 500, [string, string, Cause]>(
    'FST_LIMITER_RESOLVER_FAILED', '%s: the %s function threw (its error is the cause)', 500),
  INVALID_SETTLED_COST: createError<'FST_LIMITER_INVALID_SETTLED_COST', 500, [string, string, number]>(
    'FST_LIMITER_INVALID_SETTLED_COST', '%s: the settled cost %s is not an integer from 0 to %s; the request stays charged what it was', 500),
  STORE_UNAVAILABLE: createError<'FST_LIMITER_STORE_UNAVAILABLE', 503, [string]>(
    'FST_LIMITER_STORE_UNAVAILABLE', '%s: the rate-limit store is unavailable and the limit\'s onStoreError is \'deny\'', 503),
  INVALID_CLOCK: createError<'FST_LIMITER_INVALID_CLOCK', 500, [string]>(
    'FST_LIMITER_INVALID_CLOCK', 'fastify-limiter option clock returned %s; expected epoch milliseconds, an integer from 0 to 8640000000000000 (handled as a store error)', 500),
  STORE_TIMEOUT: createError<'FST_LIMITER_STORE_TIMEOUT', 500, [number]>(
    'FST_LIMITER_STORE_TIMEOUT', 'the rate-limit store did not answer within storeTimeoutMs (%s ms)', 500),

  // Redis store (stores/redis.ts).
  REDIS_MISSING: createError<'FST_LIMITER_REDIS_MISSING', 500, [string, string, Cause]>(
    'FST_LIMITER_REDIS_MISSING', 'RedisStore with a url needs the optional peer dependency %s (npm install %s)', 500),
  REDIS_UNREACHABLE: createError<'FST_LIMITER_REDIS_UNREACHABLE', 500, [string, string, Cause]>(
    'FST_LIMITER_REDIS_UNREACHABLE', 'RedisStore: no connection to Redis at %s: %s', 500),

  // SQLite store (stores/sqlite.ts).
  SQLITE_MISSING: createError<'FST_LIMITER_SQLITE_MISSING', 500, [string, Cause]>(
    'FST_LIMITER_SQLITE_MISSING', 'SqliteStore needs the optional peer dependency better-sqlite3 (npm install better-sqlite3): %s', 500),
  SQLITE_OPEN: createError<'FST_LIMITER_SQLITE_OPEN', 500, [string, string, Cause]>(
    'FST_LIMITER_SQLITE_OPEN', "SqliteStore: cannot open '%s' as a rate-limit database: %s", 500),
  SQLITE_BUSY: createError<'FST_LIMITER_SQLITE_BUSY', 500, [string, string, number, Cause]>(
    'FST_LIMITER_SQLITE_BUSY', "SqliteStore '%s': %s gave up: the database stayed locked by another connection for more than busyTimeoutMs (%s ms)", 500),
  SQLITE_FAILED: createError<'FST_LIMITER_SQLITE_FAILED', 500, [string, string, string, Cause]>(
    'FST_LIMITER_SQLITE_FAILED', "SqliteStore '%s': %s failed: %s", 500),

  // fastify.rateLimit API.
  INVALID_SELECTOR: createError<'FST_LIMITER_INVALID_SELECTOR', 500, [string, string]>(
    'FST_LIMITER_INVALID_SELECTOR', 'fastify.rateLimit.%s: %s', 500, TypeError),
  UNKNOWN_ROUTE: createError<'FST_LIMITER_UNKNOWN_ROUTE', 500, [string, string]>(
    'FST_LIMITER_UNKNOWN_ROUTE', 'fastify.rateLimit.%s: no rate-limited route or group %s', 500),

  // Registration of the plugin itself.
  ALREADY_REGISTERED: createError<'FST_LIMITER_ALREADY_REGISTERED', 500>(
    'FST_LIMITER_ALREADY_REGISTERED', 'fastify-limiter is already registered in this context: register it once per encapsulated context (a child context may register its own)', 500, TypeError),

  // Ecosystem: metrics (lib/observe/metrics.ts).
  METRICS_UNAVAILABLE: createError<'FST_LIMITER_METRICS_UNAVAILABLE', 500, [string, Cause]>(
    'FST_LIMITER_METRICS_UNAVAILABLE', 'fastify-limiter option metrics needs the optional peer dependency prom-client (npm install prom-client): %s', 500)
} as const

export type LimiterErrorCode = InstanceType<(typeof errors)[keyof typeof errors]>['code']
