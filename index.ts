import fp from 'fastify-plugin'
import type { FastifyInstance, RouteOptions } from 'fastify'
import { createApi } from './lib/api.js'
import type { RateLimitApi } from './lib/api.js'
import { errors } from './lib/core/errors.js'
import { kApplied, kRegistration } from './lib/core/symbols.js'
import type { CompiledLimit } from './lib/core/types.js'
import type { Store, StoreEvents } from './lib/core/store.js'
import { resolveOptions } from './lib/config/options.js'
import { registerLimit } from './lib/config/register.js'
import { checkLimit } from './lib/config/check.js'
import { GROUP, RouteRegistry, routeId, routeLabel } from './lib/config/routes.js'
import type { FastifyLimiterOptions } from './lib/config/schema.js'
import { createEngine } from './lib/request/engine.js'
import { createHook } from './lib/request/hook.js'
import type { Hook } from './lib/request/hook.js'
import { createRuntime } from './lib/request/runtime.js'
import { kSlot } from './lib/request/settle.js'
import { setupMetrics } from './lib/observe/metrics.js'
import { OpenApiCollector } from './lib/observe/openapi.js'

/** One registration of the plugin, kept on the instance it was registered in (`kRegistration`). */
interface Registration {
  readonly api: RateLimitApi
}

type Scoped = FastifyInstance & { [kRegistration]?: Registration }

/**
 * The plugin: options are resolved once; every route's limit is registered at `onRoute` and
 * enforced by a hook of its own (lib/request: resolve, decide, respond, settle); `fastify.rateLimit`
 * is the API.
 *
 * It may be registered once per encapsulated context, each time with its own options: a route is
 * limited by the registration of its own context or, failing that, of the nearest one above it,
 * and `fastify.rateLimit` in a context is that registration's API.
 */
async function fastifyLimiter (fastify: FastifyInstance, input: FastifyLimiterOptions): Promise<void> {
  if (Object.hasOwn(fastify, kRegistration)) throw new errors.ALREADY_REGISTERED()
  const settings = resolveOptions(input, fastify)
  const runtime = createRuntime(settings, fastify.log)
  const engine = createEngine(runtime)
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
    globalHook = createHook(() => compiled, engine)
    globalLimit = compiled
  }

  const registration: Registration = { api: createApi({ settings, engine, registry, global: globalLimit }) }
  ;(fastify as Scoped)[kRegistration] = registration
  // a registration in a child context finds these already made by one above it
  if (!fastify.hasRequestDecorator('rateLimit')) {
    fastify.decorateRequest('rateLimit', undefined)
    fastify.decorateRequest(kApplied, null)
    fastify.decorateRequest(kSlot, null)
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
    return createHook(() => compiled, engine)
  }

  // Requests waiting in the delay line are decided at once when Fastify closes: before the
  // server waits for its requests to finish (onClose would come after that wait).
  fastify.addHook('preClose', (done) => {
    runtime.delays.close()
    done()
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
    // inject() closes without a preClose of a listening server's kind: decided here at the latest
    runtime.delays.close()
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
