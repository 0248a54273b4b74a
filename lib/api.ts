import type { FastifyRequest } from 'fastify'
import { errors } from './core/errors.js'
import { formatValue } from './core/format.js'
import type { Store, StoreStats } from './core/store.js'
import { kApplied } from './core/symbols.js'
import type { CompiledLimit, ResolvedBucket } from './core/types.js'
import type { PluginSettings } from './config/options.js'
import { registerLimit } from './config/register.js'
import { GROUP, NOT_FOUND, routeId, routeLabel } from './config/routes.js'
import type { RouteRegistry } from './config/routes.js'
import type { RateLimit } from './config/schema.js'
import { bucketsOf, resolveBuckets } from './request/bucket.js'
import { createHook } from './request/hook.js'
import type { Hook } from './request/hook.js'
import { ipIdentity } from './request/identity.js'
import { encodePart, keyHead } from './request/keys.js'
import type { Runtime } from './request/runtime.js'
import type { CounterSnapshot } from './observe/report.js'

/** What `fastify.rateLimit.reset()` takes besides a request: which buckets to forget. */
export interface ResetSelector {
  /** A route (`'POST /login'`), a URL (`'/login'`, every method) or a group; default: every limit. */
  route?: string
  ip?: string
  user?: string | number
  key?: string | number
}

/** `stats()`: the totals, a `routes` breakdown (by route, then bucket kind), and the store's stats. */
export interface LimiterStats extends CounterSnapshot {
  /** The store's stats, or why they could not be read (the store failed or took longer than storeTimeoutMs). */
  store: StoreStats | { error: string }
}

/** `fastify.rateLimit`. */
export interface RateLimitApi {
  /** The store every limit uses. */
  readonly store: Store
  /**
   * Forgets buckets: those a request was counted in (for example after a successful login),
   * or those a selector names.
   */
  reset (target: FastifyRequest | ResetSelector): Promise<void>
  /**
   * Forgets every bucket of this registration: those under its `keyPrefix`, and no other app's
   * that shares the store with another prefix.
   */
  clear (): Promise<void>
  /** The plugin's counters and the store's stats. */
  stats (): Promise<LimiterStats>
  /**
   * A hook enforcing `limit`, for use outside `config.rateLimit` (a not-found handler, a
   * hook added by hand). Checked now; buckets are per route unless the limit has a group.
   */
  hook (limit: RateLimit): Hook
}

/** What `fastify.rateLimit` works on: one registration's settings, runtime and registry. */
export interface ApiScope {
  readonly settings: PluginSettings
  readonly runtime: Runtime
  readonly registry: RouteRegistry
}

export function createApi (scope: ApiScope): RateLimitApi {
  const { settings: options, runtime, registry } = scope
  const { report } = runtime
  const { store } = options
  // What every key of this registration starts with: `<keyPrefix>:{`, or `{` for an empty
  // prefix (taken from keyHead, which builds the keys). The brace ends the prefix, so prefix
  // 'a' never clears the keys of 'a:b' or 'ab'.
  const head = keyHead(options.keyPrefix, '', '')
  const ownKeys = head.slice(0, head.indexOf('{') + 1)
  /** `hook()` limits made so far: each gets a key namespace of its own. */
  let hooks = 0

  async function resetKeys (keys: string[]): Promise<void> {
    // remembered denials may name these buckets: forget them all (reset is rare)
    runtime.denials?.clear()
    await Promise.all([...new Set(keys)].map((key) => store.reset(key)))
  }

  function keysOf (resolved: ResolvedBucket): string[] {
    return bucketsOf(resolved).map((b) => b.key)
  }

  function requestKeys (request: FastifyRequest): string[] {
    const keys: string[] = []
    for (let a = request[kApplied]; a !== null; a = a.previous) {
      keys.push(...keysOf(a))
    }
    if (keys.length > 0) return keys
    // The limiter did not run on this request: work out what it would have counted.
    const route = request.routeOptions
    for (const limit of registry.find(route.url === undefined ? NOT_FOUND : routeLabel(route.method, route.url))) {
      for (const resolved of resolveBuckets(request, limit, options)) keys.push(...keysOf(resolved))
    }
    return keys
  }

  function selectorKeys (selector: ResetSelector): string[] {
    if (selector === null || typeof selector !== 'object') {
      throw new errors.INVALID_SELECTOR(`expected a request or { route?, ip?, user?, key? }, received ${formatValue(selector)}`)
    }
    const extra = Object.keys(selector).filter((k) => !['route', 'ip', 'user', 'key'].includes(k))
    if (extra.length > 0) throw new errors.INVALID_SELECTOR(`unknown field ${formatValue(extra[0])}`)
    const { route, ip, user, key } = selector
    const identities: Array<[keyof Pick<CompiledLimit, 'ip' | 'user' | 'key'>, string]> = []
    if (ip !== undefined) identities.push(['ip', encodePart(ipIdentity(checkId('ip', ip), options.ipv6Subnet))])
    if (user !== undefined) identities.push(['user', encodePart(checkId('user', user))])
    if (key !== undefined) identities.push(['key', encodePart(checkId('key', key))])
    if (identities.length === 0) throw new errors.INVALID_SELECTOR('name at least one of ip, user or key')
    let limits: Iterable<CompiledLimit> = registry.all
    if (route !== undefined) {
      limits = registry.find(checkId('route', route))
      if ((limits as CompiledLimit[]).length === 0) throw new errors.UNKNOWN_ROUTE(formatValue(route))
    }
    const keys: string[] = []
    for (const limit of limits) {
      for (const [name, identity] of identities) {
        const kind = limit[name]
        if (kind !== undefined) keys.push(...keysOf({ kind, identity }))
      }
    }
    return keys
  }

  const api: RateLimitApi = {
    store,
    async reset (target) {
      const keys = isRequest(target) ? requestKeys(target) : selectorKeys(target)
      await resetKeys(keys)
    },
    async clear () {
      runtime.denials?.clear()
      await store.clear(ownKeys)
    },
    async stats () {
      // a stats call must not hang or fail on a store outage either
      let storeStats: StoreStats | { error: string }
      try {
        storeStats = await runtime.guard.bound(Promise.resolve().then(() => store.stats()))
      } catch (err) {
        storeStats = { error: err instanceof Error ? err.message : formatValue(err) }
      }
      return { ...report.snapshot(), store: storeStats }
    },
    hook (limit) {
      const where = 'fastify.rateLimit.hook()'
      const group = typeof limit === 'object' ? limit.group : undefined
      // its own namespace: never the buckets of a route's config.rateLimit or of another hook();
      // a group is a name chosen to share, so grouped limits share the groups' namespace
      const namespace = group === undefined ? `hook${++hooks}=` : GROUP
      // Registered now so that a bad limit fails here; then once per route it runs on.
      const first = registerLimit(options, registry, { limit, where, path: 'limit', route: group ?? where, id: group ?? where, namespace, names: [group] })
      // no route hooks to release a slot with: concurrency belongs to config.rateLimit and global
      if (first.concurrency !== undefined) throw new errors.INVALID_ROUTE_CONFIG(where, 'limit.concurrency', 'concurrency limits are for config.rateLimit and global, not hook()')
      const perRoute = new Map<string, CompiledLimit>()
      return createHook((request) => {
        if (group !== undefined) return first
        const { method, url } = request.routeOptions
        // the not-found handler has no route: every not-found request shares one label and namespace
        const label = url === undefined ? NOT_FOUND : routeLabel(method, url)
        let compiled = perRoute.get(label)
        if (compiled === undefined) {
          const id = url === undefined ? NOT_FOUND : routeId(method, url)
          compiled = registerLimit(options, registry, { limit, where: `Route ${label}`, path: 'limit', route: label, id, namespace, names: [label, id, url] })
          perRoute.set(label, compiled)
        }
        return compiled
      }, runtime)
    }
  }
  return api
}

function isRequest (value: unknown): value is FastifyRequest {
  return value !== null && typeof value === 'object' && kApplied in value
}

function checkId (field: string, value: unknown): string {
  if (typeof value === 'string' && value !== '') return value
  if (typeof value === 'number' && Number.isFinite(value) && field !== 'ip' && field !== 'route') return String(value)
  throw new errors.INVALID_SELECTOR(`${field} must be a non-empty string${field === 'user' || field === 'key' ? ' or a finite number' : ''}, received ${formatValue(value)}`)
}
