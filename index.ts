import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { createApi } from './lib/api.js'
import type { RateLimitApi } from './lib/api.js'
import { errors } from './lib/core/errors.js'
import { kApplied, kRegistration } from './lib/core/symbols.js'
import type { CompiledLimit, RateLimitDecision } from './lib/core/types.js'
import type { Store, StoreEvents } from './lib/core/store.js'
import { resolveOptions } from './lib/config/options.js'
import { registerLimit } from './lib/config/register.js'
import { checkLimit } from './lib/config/check.js'
import { GROUP, RouteRegistry, routeId, routeLabel } from './lib/config/routes.js'
import type { FastifyLimiterOptions } from './lib/config/schema.js'
import { createHook } from './lib/request/hook.js'
import type { Hook } from './lib/request/hook.js'
import { createRuntime } from './lib/request/runtime.js'
import { releaseSlots, kSlots } from './lib/request/concurrency.js'
import { setupMetrics } from './lib/observe/metrics.js'
import { OpenApiCollector } from './lib/observe/openapi.js'

/** One registration of the plugin, kept on the instance it was registered in (`kRegistration`). */
interface Registration {
  readonly api: RateLimitApi
}

type Scoped = FastifyInstance & { [kRegistration]?: Registration }

/**
 * The plugin: options are resolved once; every route's limit is registered at `onRoute` and
 * enforced by a hook of its own; `onSend` writes the headers; `fastify.rateLimit` is the API.
 *
 * It may be registered once per encapsulated context, each time with its own options: a route is
 * limited by the registration of its own context or, failing that, of the nearest one above it,
 * and `fastify.rateLimit` in a context is that registration's API.
 */
async function fastifyLimiter (fastify: FastifyInstance, input: FastifyLimiterOptions): Promise<void> {
  if (Object.hasOwn(fastify, kRegistration)) throw new errors.ALREADY_REGISTERED()
  const settings = resolveOptions(input, fastify)
  const runtime = createRuntime(settings)
  const registry = new RouteRegistry()
  const removeMetrics = await setupMetrics(settings.metrics, runtime.report)
  const docs = settings.openapi === undefined ? undefined : new OpenApiCollector(settings.openapi)
  if (docs !== undefined) fastify.addHook('onReady', async () => docs.apply())

  let globalHook: Hook | undefined
  let globalLimit: CompiledLimit | undefined
  if (settings.global !== undefined) {
    const group = typeof settings.global === 'object' ? settings.global.group : undefined
    const compiled = registerLimit(settings, registry, {
      limit: settings.global,
      where: 'fastify-limiter option',
      path: 'global',
      route: group ?? 'global',
      id: group ?? '*',
      namespace: group === undefined ? '' : GROUP,
      names: ['global', group]
    })
    globalHook = createHook(() => compiled, runtime)
    globalLimit = compiled
  }

  const registration: Registration = { api: createApi({ settings, runtime, registry }) }
  ;(fastify as Scoped)[kRegistration] = registration
  // a registration in a child context finds these already made by one above it
  if (!fastify.hasRequestDecorator('rateLimit')) {
    fastify.decorateRequest('rateLimit', undefined)
    fastify.decorateRequest(kApplied, null)
    fastify.decorateRequest(kSlots, null)
  }
  if (!fastify.hasDecorator('rateLimit')) {
    fastify.decorate('rateLimit', {
      getter (this: Scoped) {
        return (this[kRegistration] as Registration).api
      }
    })
  }
  /** Whether this registration is the nearest one of `instance`'s context. */
  const nearest = (instance: FastifyInstance) => (instance as Scoped)[kRegistration] === registration

  fastify.addHook('onRoute', function (route: RouteOptions) {
    // a route declared under a nearer registration is that one's to limit
    if (!nearest(this)) return
    const hook = routeHook(route, this)
    if (hook === undefined) return
    const existing = route[settings.hook]
    route[settings.hook] = existing === undefined
      ? [hook]
      : [...(Array.isArray(existing) ? existing : [existing]), hook] as typeof existing
  })

  function routeHook (route: RouteOptions, instance: FastifyInstance): Hook | undefined {
    const declared = route.config?.rateLimit
    if (declared === undefined) {
      docs?.add(instance, route, globalLimit)
      if (globalLimit?.concurrency !== undefined) releasing(route)
      return globalHook
    }
    const label = routeLabel(route.method, route.url)
    const where = `Route ${label}`
    checkLimit(declared, where, 'config.rateLimit', true)
    if (declared === false) return undefined
    const group = typeof declared === 'object' ? declared.group : undefined
    const id = group ?? routeId(route.method, route.url)
    const compiled = registerLimit(settings, registry, {
      limit: declared, where, path: 'config.rateLimit', route: group ?? label, id, namespace: group === undefined ? '' : GROUP, names: [label, id, route.url, group]
    })
    docs?.add(instance, route, compiled)
    if (compiled.concurrency !== undefined) releasing(route)
    return createHook(() => compiled, runtime)
  }

  /**
   * A route with a concurrency limit gives its slots back however its requests end: the first
   * of these hooks to run releases them, the others find none (releaseSlots).
   */
  function releasing (route: RouteOptions): void {
    const release = (request: FastifyRequest) => releaseSlots(request, runtime)
    append(route, 'onResponse', (request: FastifyRequest, _reply: FastifyReply, done: () => void) => { release(request); done() })
    append(route, 'onRequestAbort', (request: FastifyRequest, done: () => void) => { release(request); done() })
    append(route, 'onTimeout', (request: FastifyRequest, _reply: FastifyReply, done: () => void) => { release(request); done() })
    append(route, 'onError', (request: FastifyRequest, _reply: FastifyReply, _error: Error, done: () => void) => { release(request); done() })
  }

  // Each limit writes its own format (routes may override `headers`), so the hook is always there;
  // the route's nearest registration writes them (once, when several registrations are above it).
  fastify.addHook('onSend', function (request: FastifyRequest, reply: FastifyReply, payload: unknown, done) {
    const applied = request[kApplied]
    if (applied !== null && applied.limit.writeHeaders !== undefined && nearest(this)) {
      applied.limit.writeHeaders(reply, request.rateLimit as RateLimitDecision, {
        policy: applied.kind.policy,
        policyName: applied.rate.policyName,
        now: applied.now,
        blocked: applied.blocked,
        rate: applied.rate,
        rates: applied.kind.rates,
        identity: applied.identity
      })
    }
    done(null, payload)
  })

  // A store that connects (Redis) is waited for, bounded, so that the first requests after
  // `ready()` are decided by it rather than by onStoreError; one line says when it is not ready.
  const { store } = settings
  if (typeof store.ready === 'function') {
    fastify.addHook('onReady', async () => {
      const events: StoreEvents = {
        damaged: (key) => fastify.log.warn({ key },
          'fastify-limiter: a stored rate-limit state did not parse (written by something else); it counts as an empty bucket and was deleted')
      }
      const problem = await waitReady(store, events, READY_WAIT_MS)
      if (problem !== undefined) {
        fastify.log.error(`fastify-limiter: the rate-limit store is not ready (${problem}); requests follow onStoreError until it is`)
      }
    })
  }

  fastify.addHook('onClose', async () => {
    for (const close of runtime.closing) close()
    runtime.guard.close()
    removeMetrics?.()
    if (settings.ownsStore) await settings.store.close()
  })
}

/** How long `onReady` waits for the store to connect before starting without it. */
const READY_WAIT_MS = 2_000

/** Waits for `store.ready()` up to `ms`; returns what went wrong, or undefined when the store is ready. */
async function waitReady (store: Store, events: StoreEvents, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(resolve, ms, `not connected after ${ms} ms`)
  })
  try {
    return await Promise.race([
      Promise.resolve(store.ready?.(events)).then(() => undefined, (err: unknown) => reasonOf(err)),
      late
    ])
  } finally {
    clearTimeout(timer)
  }
}

function reasonOf (err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const { code, message } = err as { code?: unknown, message?: unknown }
    if (typeof message === 'string') return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
  }
  return String(err)
}

/** Adds `hook` to a route's own hooks of that name, after the ones it has. */
function append (route: RouteOptions, name: 'onResponse' | 'onRequestAbort' | 'onTimeout' | 'onError', hook: (...args: any[]) => void): void {
  const existing = route[name] as unknown
  route[name] = (existing === undefined ? [hook] : [...(Array.isArray(existing) ? existing : [existing]), hook]) as never
}

/** The plugin. Register it before the routes it should limit. */
const plugin = fp(fastifyLimiter, { fastify: '5.x', name: 'fastify-limiter' })
export default plugin
export { plugin as fastifyLimiter }

export type * from './types/index.js'
export { errors } from './lib/core/errors.js'
export { parseRate } from './lib/config/rate.js'
export { MemoryStore } from './stores/memory.js'
export { SqliteStore } from './stores/sqlite.js'
export { RedisStore } from './stores/redis.js'
export { evaluate } from './stores/store.js'
export * from './algorithms/index.js'
