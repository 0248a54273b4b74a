import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { createApi } from './lib/api.js'
import type { RateLimitApi } from './lib/api.js'
import { checkLimit } from './lib/check.js'
import { compileLimit } from './lib/compile.js'
import type { CompiledLimit } from './lib/compile.js'
import type { RateLimitDecision } from './lib/context.js'
import { createHook, kApplied } from './lib/limiter.js'
import type { LimiterContext } from './lib/limiter.js'
import { Reporter } from './lib/report.js'
import { setupMetrics } from './lib/metrics.js'
import { OpenApiCollector } from './lib/openapi.js'
import { StoreGuard } from './lib/guard.js'
import { DenialCache } from './lib/denials.js'
import { MemoryStore } from './stores/memory.js'
import { resolveOptions } from './lib/options.js'
import { RouteRegistry, routeId, routeLabel } from './lib/routes.js'
import type { FastifyLimiterOptions, RouteRateLimit } from './lib/schema.js'

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

type HookName = 'onRequest' | 'preValidation' | 'preHandler'

/** Most blocked buckets remembered per app server (LRU past that). */
const DENIAL_CACHE_SIZE = 10_000

async function fastifyLimiter (fastify: FastifyInstance, input: FastifyLimiterOptions): Promise<void> {
  const options = resolveOptions(input, fastify)
  const clock = options.clock ?? Date.now
  const context: LimiterContext = {
    options,
    report: new Reporter(options.log),
    guard: new StoreGuard(options.storeTimeoutMs, clock),
    denials: options.store instanceof MemoryStore ? undefined : new DenialCache(DENIAL_CACHE_SIZE)
  }
  const registry = new RouteRegistry()
  const removeMetrics = await setupMetrics(options.metrics, context.report)
  const docs = options.openapi === undefined ? undefined : new OpenApiCollector(options.openapi)
  if (docs !== undefined) fastify.addHook('onReady', async () => docs.apply())

  let globalHook: ReturnType<typeof createHook> | undefined
  let globalLimit: CompiledLimit | undefined
  if (options.global !== undefined) {
    const group = typeof options.global === 'object' ? options.global.group : undefined
    const compiled = compileLimit(options.global, 'fastify-limiter option', 'global', group ?? 'global', group ?? '*', options)
    registry.add(compiled, ['global', group])
    globalHook = createHook(() => compiled, context)
    globalLimit = compiled
  }

  fastify.decorateRequest('rateLimit', undefined)
  fastify.decorateRequest(kApplied, null)
  fastify.decorate('rateLimit', createApi(context, registry))

  fastify.addHook('onRoute', function (route: RouteOptions) {
    const hook = routeHook(route, this)
    if (hook === undefined) return
    const existing = route[options.hook]
    route[options.hook] = existing === undefined
      ? [hook]
      : [...(Array.isArray(existing) ? existing : [existing]), hook] as typeof existing
  })

  function routeHook (route: RouteOptions, instance: FastifyInstance) {
    const declared = route.config?.rateLimit
    if (declared === undefined) {
      docs?.add(instance, route, globalLimit)
      return globalHook
    }
    const label = routeLabel(route.method, route.url)
    const where = `Route ${label}`
    checkLimit(declared, where, 'config.rateLimit', true)
    if (declared === false) return undefined
    const group = typeof declared === 'object' ? declared.group : undefined
    const id = group ?? routeId(route.method, route.url)
    const compiled: CompiledLimit = compileLimit(declared, where, 'config.rateLimit', group ?? label, id, options)
    registry.add(compiled, [label, id, route.url, group])
    docs?.add(instance, route, compiled)
    return createHook(() => compiled, context)
  }

  const { writeHeaders } = options
  if (writeHeaders !== undefined) {
    fastify.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload: unknown, done) => {
      const applied = request[kApplied]
      if (applied !== null) {
        writeHeaders(reply, request.rateLimit as RateLimitDecision, {
          policy: applied.kind.policy,
          policyName: applied.rate.policyName,
          now: applied.now,
          blocked: applied.blocked
        })
      }
      done(null, payload)
    })
  }

  fastify.addHook('onClose', async () => {
    context.guard.close()
    removeMetrics?.()
    if (options.ownsStore) await options.store.close()
  })
}

/** The plugin. Register it before the routes it should limit. */
const plugin = fp(fastifyLimiter, { fastify: '5.x', name: 'fastify-limiter' })
export default plugin
export { plugin as fastifyLimiter }

export type { HookName }
export type { FastifyLimiterOptions, RouteRateLimit, RateLimit, RateLimitObject, RateString, RateUnit, Identity } from './lib/schema.js'
export type { RateLimitDecision, LimitContext, BucketKind } from './lib/context.js'
export type { RateLimitApi, ResetSelector, LimiterStats } from './lib/api.js'
export type { Counters, BucketCounters, RouteCounters, CounterSnapshot } from './lib/report.js'
export type { MetricsInput, MetricsRegistry } from './lib/metrics.js'
export type { OpenApiInput } from './lib/openapi.js'
export type { LogLevel, LogInput } from './lib/logging.js'
export { errors } from './lib/errors.js'
export { parseRate } from './lib/rate.js'
export type { Rate, RateInput } from './lib/rate.js'
export { MemoryStore } from './stores/memory.js'
export type { MemoryStoreOptions, MemoryStoreStats } from './stores/memory.js'
export { SqliteStore } from './stores/sqlite.js'
export type { SqliteStoreOptions, SqliteStoreStats } from './stores/sqlite.js'
export { RedisStore } from './stores/redis.js'
export type { RedisStoreOptions, RedisStoreStats, RedisClient } from './stores/redis.js'
export { evaluate } from './stores/store.js'
export type { Store, StoreBucket, StoreDecision, StoreStats, Evaluation } from './stores/store.js'
export * from './algorithms/index.js'

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
    (namespace: { readonly default: typeof plugin }, opts?: import('fastify').FastifyRegisterOptions<FastifyLimiterOptions>): T
  }
}
