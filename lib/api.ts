import type { FastifyRequest } from 'fastify'
import { errors } from './core/errors.js'
import { formatValue } from './core/format.js'
import type { Store, StoreBucket, StoreStats } from './core/store.js'
import { kApplied } from './core/symbols.js'
import type { CompiledLimit, RateLimitDecision, ResolvedBucket } from './core/types.js'
import type { PluginSettings } from './config/options.js'
import { registerLimit } from './config/register.js'
import { GROUP, NOT_FOUND, routeId, routeLabel } from './config/routes.js'
import type { RouteRegistry } from './config/routes.js'
import type { RateLimit } from './config/schema.js'
import { bucketsOf, checkCost, resolveBuckets, resolverFailed } from './request/bucket.js'
import { describeDecision, describeGated } from './request/peek.js'
import { banKey, withGates } from './request/ban.js'
import { missingOptionalMethods } from '../stores/store.js'
import { createHook } from './request/hook.js'
import { kSlots, slotKey } from './request/concurrency.js'
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

/** What `fastify.rateLimit.peek()` takes besides a request: a route or group and an identity. */
export interface PeekSelector extends ResetSelector {
  /** A route (`'POST /login'`), a URL or a group: required. */
  route: string
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
   * The decision a request would get now, with nothing charged: for a request (its route's
   * limits, identities, rates and cost, as the hook would work them out), or for a route or
   * group and an identity (`{ route, ip }`, `{ route, user }`, `{ route, key }`; cost 1). With
   * several limits, the most restrictive decision; undefined when no limit applies. Needs a
   * store with `peek()` (FST_LIMITER_STORE_LACKS_METHOD otherwise).
   */
  peek (target: FastifyRequest | PeekSelector): Promise<RateLimitDecision | undefined>
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
  const head = keyHead({ prefix: options.keyPrefix, route: '', kind: '' })
  const ownKeys = head.slice(0, head.indexOf('{') + 1)
  /** `hook()` limits made so far: each gets a key namespace of its own. */
  let hooks = 0

  async function resetKeys (keys: string[]): Promise<void> {
    // remembered denials may name these buckets: forget them all (reset is rare)
    runtime.denials?.clear()
    await Promise.all([...new Set(keys)].map((key) => store.reset(key)))
  }

  /** The store keys of an identity under a limit: its buckets, and its ban state when the limit bans. */
  function keysOf (resolved: ResolvedBucket, limit: CompiledLimit): string[] {
    const keys = bucketsOf(resolved).map((b) => b.key)
    if (limit.ban !== undefined) keys.push(banKey(resolved.kind, resolved.identity))
    return keys
  }

  /** The key of the concurrency slots `limit` keeps for the identity of `resolved`, if any. */
  function slotKeys (limit: CompiledLimit, resolved: ResolvedBucket): string[] {
    const key = slotKey(limit, resolved.kind.kind, resolved.identity)
    return key === undefined ? [] : [key]
  }

  async function requestKeys (request: FastifyRequest): Promise<string[]> {
    // the buckets, and the concurrency slots of the same identities and the one the request holds
    const keys: string[] = []
    for (let a = request[kApplied]; a !== null; a = a.previous) {
      keys.push(...keysOf(a, a.limit), ...slotKeys(a.limit, a))
    }
    const held = request[kSlots]
    if (keys.length === 0) {
      // The limiter did not run on this request: work out what it would have counted.
      const route = request.routeOptions
      for (const limit of registry.find(route.url === undefined ? NOT_FOUND : routeLabel(route.method, route.url))) {
        for (const resolved of await resolveBuckets(request, limit, options)) keys.push(...keysOf(resolved, limit), ...slotKeys(limit, resolved))
      }
    }
    if (held !== null) keys.push(held.key)
    return keys
  }

  /**
   * The limits a selector names and, for each, the buckets of the identities it gives (a kind
   * whose rates a function decides: the buckets of every rate it returned lately).
   */
  function selected (selector: ResetSelector, method: 'reset' | 'peek'): Array<{ limit: CompiledLimit, resolved: ResolvedBucket[], slots: string[] }> {
    if (selector === null || typeof selector !== 'object') {
      throw new errors.INVALID_SELECTOR(method, `expected a request or { route?, ip?, user?, key? }, received ${formatValue(selector)}`)
    }
    const extra = Object.keys(selector).filter((k) => !['route', 'ip', 'user', 'key'].includes(k))
    if (extra.length > 0) throw new errors.INVALID_SELECTOR(method, `unknown field ${formatValue(extra[0])}`)
    const { route, ip, user, key } = selector
    const identities: Array<[keyof Pick<CompiledLimit, 'ip' | 'user' | 'key'>, string]> = []
    if (ip !== undefined) identities.push(['ip', encodePart(ipIdentity(checkId(method, 'ip', ip), options.ipv6Subnet))])
    if (user !== undefined) identities.push(['user', encodePart(checkId(method, 'user', user))])
    if (key !== undefined) identities.push(['key', encodePart(checkId(method, 'key', key))])
    if (identities.length === 0) throw new errors.INVALID_SELECTOR(method, 'name at least one of ip, user or key')
    let limits: Iterable<CompiledLimit> = registry.all
    if (route !== undefined) {
      limits = registry.find(checkId(method, 'route', route))
      if ((limits as CompiledLimit[]).length === 0) throw new errors.UNKNOWN_ROUTE(method, formatValue(route))
    } else if (method === 'peek') {
      throw new errors.INVALID_SELECTOR(method, 'name the route (or group) to peek at')
    }
    const found: Array<{ limit: CompiledLimit, resolved: ResolvedBucket[], slots: string[] }> = []
    for (const limit of limits) {
      const resolved: ResolvedBucket[] = []
      const slots: string[] = []
      for (const [name, identity] of identities) {
        const slot = slotKey(limit, name, identity)
        if (slot !== undefined) slots.push(slot)
        const kind = limit[name]
        if (kind === undefined) continue
        if (kind.dynamic === undefined) resolved.push({ kind, identity })
        // rates a function decides: the buckets of every rate it returned lately
        else for (const known of kind.dynamic.known()) resolved.push({ kind: known, identity })
      }
      found.push({ limit, resolved, slots })
    }
    return found
  }

  function selectorKeys (selector: ResetSelector): string[] {
    const keys: string[] = []
    for (const { limit, resolved, slots } of selected(selector, 'reset')) {
      for (const r of resolved) keys.push(...keysOf(r, limit))
      keys.push(...slots)
    }
    return keys
  }

  /** What `limit` would decide now for these buckets at `cost`, with nothing charged. */
  async function peekAt (limit: CompiledLimit, resolved: ResolvedBucket[], cost: number): Promise<RateLimitDecision | undefined> {
    if (resolved.length === 0) return undefined
    const buckets = resolved.flatMap(bucketsOf)
    const now = options.clock === undefined ? undefined : options.clock()
    const peek = store.peek as NonNullable<Store['peek']>
    const ask = (all: StoreBucket[]) => runtime.guard.bound(Promise.resolve().then(() => peek.call(store, all, cost, now)))
    if (limit.ban === undefined) return describeDecision(resolved, await ask(buckets))
    // a ban: the gates first (lib/request/ban.ts); a rate's denial may hide a longer ban, which
    // the request would be answered with, so then the gates are asked alone
    const gates = withGates(resolved, [])
    let d = await ask(withGates(resolved, buckets))
    if (!d.allowed && d.index >= gates.length) {
      const gated = await ask(gates)
      if (!gated.allowed) d = gated
    }
    return describeGated(resolved, d)
  }

  async function peekRequest (request: FastifyRequest): Promise<RateLimitDecision | undefined> {
    if (options.exempt !== undefined && await options.exempt(request)) return undefined
    // the limits that ran on the request (hook() ones too), else those its route declares
    const limits = new Set<CompiledLimit>()
    for (let a = request[kApplied]; a !== null; a = a.previous) limits.add(a.limit)
    if (limits.size === 0) {
      const route = request.routeOptions
      for (const limit of registry.find(route.url === undefined ? NOT_FOUND : routeLabel(route.method, route.url))) limits.add(limit)
    }
    const decisions: Array<RateLimitDecision | undefined> = []
    for (const limit of limits) {
      const resolved = await resolveBuckets(request, limit, options)
      if (resolved.length === 0) continue
      let cost = 1
      if (typeof limit.cost === 'number') cost = limit.cost
      else {
        let value: unknown
        try {
          value = await limit.cost(request)
        } catch (err) {
          throw resolverFailed(limit, 'cost', err)
        }
        cost = checkCost(limit, value, Math.min(limit.maxCost, ...resolved.map((r) => r.kind.maxCost)))
      }
      decisions.push(await peekAt(limit, resolved, cost))
    }
    return mostRestrictive(decisions)
  }

  const api: RateLimitApi = {
    store,
    async reset (target) {
      const keys = isRequest(target) ? await requestKeys(target) : selectorKeys(target)
      await resetKeys(keys)
    },
    async peek (target) {
      if (missingOptionalMethods(store, ['peek']).length > 0) {
        throw new errors.STORE_LACKS_METHOD('fastify.rateLimit.peek()', 'peek()', 'peek')
      }
      if (isRequest(target)) return await peekRequest(target)
      const decisions: Array<RateLimitDecision | undefined> = []
      for (const { limit, resolved } of selected(target, 'peek')) decisions.push(await peekAt(limit, resolved, 1))
      return mostRestrictive(decisions)
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

/** The denied decision if any (the one with the longest wait), else the one with the fewest units left. */
function mostRestrictive (decisions: Array<RateLimitDecision | undefined>): RateLimitDecision | undefined {
  let worst: RateLimitDecision | undefined
  for (const d of decisions) {
    if (d === undefined) continue
    if (worst === undefined ||
      (worst.allowed && !d.allowed) ||
      (worst.allowed === d.allowed && (d.allowed ? d.remaining < worst.remaining : d.retryAfterMs > worst.retryAfterMs))) worst = d
  }
  return worst
}

function checkId (method: string, field: string, value: unknown): string {
  if (typeof value === 'string' && value !== '') return value
  if (typeof value === 'number' && Number.isFinite(value) && field !== 'ip' && field !== 'route') return String(value)
  throw new errors.INVALID_SELECTOR(method, `${field} must be a non-empty string${field === 'user' || field === 'key' ? ' or a finite number' : ''}, received ${formatValue(value)}`)
}
