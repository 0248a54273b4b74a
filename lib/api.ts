import type { FastifyRequest } from 'fastify'
import { errors } from './core/errors.js'
import { formatValue } from './core/format.js'
import type { Store, StoreStats } from './core/store.js'
import { kApplied } from './core/symbols.js'
import type { CompiledKind, CompiledLimit, RateLimitDecision, ResolvedBucket } from './core/types.js'
import type { PluginSettings } from './config/options.js'
import { registerLimit } from './config/register.js'
import { GROUP, NOT_FOUND, routeId, routeLabel } from './config/routes.js'
import type { RouteRegistry } from './config/routes.js'
import type { RateLimit } from './config/schema.js'
import { banKey } from './request/ban.js'
import { bucketsOf } from './request/bucket.js'
import { slotKey } from './request/concurrency.js'
import { CONSUME, DECIDED, DECIDING, Flow, LET_THROUGH, NOT_LIMITED, PEEK, RESOLVE_ONLY } from './request/flow.js'
import type { Engine, FlowMode, Runtime } from './request/flow.js'
import { createHook } from './request/hook.js'
import type { Hook } from './request/hook.js'
import { ipIdentity } from './request/identity.js'
import { encodePart, keyHead } from './request/keys.js'
import { MAX_SETTLED_COST, kSlot, settleNow } from './request/settle.js'
import type { CounterSnapshot } from './observe/report.js'
import { missingOptionalMethods } from '../stores/store.js'

/** What `fastify.rateLimit.reset()` takes besides a request: which buckets to forget. */
export interface ResetSelector {
  /** A route (`'POST /login'`), a URL (`'/login'`, every method) or a group; default: every limit. */
  route?: string
  /** A group (the same as `route` naming it). */
  group?: string
  ip?: string
  user?: string | number
  key?: string | number
}

/** A route or a group, named: what `peek()` and `consume()` by selector need. */
type Named = { route: string, group?: undefined } | { group: string, route?: undefined }

/** What `fastify.rateLimit.peek()` takes besides a request: a route or group and an identity. */
export type PeekSelector = ResetSelector & Named

/** What `fastify.rateLimit.consume()` takes besides a request: one route or group, and an identity. */
export type ConsumeSelector = ResetSelector & Named

/** `consume()`'s options. */
export interface ConsumeOptions {
  /**
   * Cost units to charge, an integer from 1 to the limit's smallest capacity.
   * @default the limit's `cost` (for a request; for a selector, 1 when the limit's cost is a function)
   */
  cost?: number
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
   * or those a selector names. A refund or settlement of a charge made before gives nothing back.
   */
  reset (target: FastifyRequest | ResetSelector): Promise<void>
  /**
   * The decision a request would get now, with nothing charged: for a request (its route's
   * limits, identities, rates and cost, as the hook works them out), or for a route or group and
   * an identity (`{ route, ip }`, `{ route, user }`, `{ route, key }`; cost 1). With several
   * limits, the most restrictive decision; undefined when no limit applies. A store failure
   * follows the limit's onStoreError (`'deny'`: FST_LIMITER_STORE_UNAVAILABLE). Needs a store
   * with `peek()` (FST_LIMITER_STORE_LACKS_METHOD otherwise).
   */
  peek (target: FastifyRequest | PeekSelector): Promise<RateLimitDecision | undefined>
  /**
   * Charges a limit's buckets outside the HTTP hook (a WebSocket message, a GraphQL field, a
   * job) and resolves to the decision, as the hook would make it: for a request (its route's
   * limit, and the identity it was counted as), or for one route or group and an identity. A
   * denial is a decision (`allowed: false`, `retryAfterMs`), never a rejection; undefined when
   * no limit applies (exempt, or no bucket kind counts it). A store failure follows the limit's
   * onStoreError: `'fallback'` decides on the local memory store, `'allow'` allows, `'deny'`
   * rejects with FST_LIMITER_STORE_UNAVAILABLE.
   */
  consume (target: FastifyRequest | ConsumeSelector, options?: ConsumeOptions): Promise<RateLimitDecision | undefined>
  /**
   * Settles the request's charge now, from the handler that learned its real cost (an integer
   * from 0): more is charged (even past the limit: debt), less refunded, once; the response's
   * `count` and `settle` then leave it alone. Resolves true when a charge was settled, false
   * when there was none to settle (not charged, already settled, or reset since).
   */
  settle (request: FastifyRequest, cost: number): Promise<boolean>
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

/** What `fastify.rateLimit` works on: one registration's settings, engine and registry. */
export interface ApiScope {
  readonly settings: PluginSettings
  readonly engine: Engine
  readonly registry: RouteRegistry
  /** The `global` limit, compiled: what a route without `config.rateLimit` is limited by. */
  readonly global: CompiledLimit | undefined
}

type Method = 'reset' | 'peek' | 'consume' | 'settle'

export function createApi (scope: ApiScope): RateLimitApi {
  const { settings: options, engine, registry, global } = scope
  const runtime: Runtime = engine.runtime
  const { report } = runtime
  const { store } = options
  // What every key of this registration starts with: `<keyPrefix>:{`, or `{` for an empty
  // prefix (taken from keyHead, which builds the keys). The brace ends the prefix, so prefix
  // 'a' never clears the keys of 'a:b' or 'ab'.
  const head = keyHead({ prefix: options.keyPrefix, route: '', kind: '' })
  const ownKeys = head.slice(0, head.indexOf('{') + 1)
  /** `hook()` limits made so far: each gets a key namespace of its own. */
  let hooks = 0

  /** Runs one flow of the engine to its end: the decision, or undefined when no limit applies. */
  function decide (limit: CompiledLimit, mode: FlowMode, on: { request?: FastifyRequest, given?: number, resolved?: ResolvedBucket[] }): Promise<Flow> {
    return new Promise((resolve, reject) => {
      const flow = new Flow(engine, limit, mode, on.request?.log ?? runtime.log)
      flow.request = on.request
      flow.given = on.given
      flow.end = (f) => f.error === undefined ? resolve(f) : reject(f.error)
      if (on.resolved !== undefined) {
        // a selector names the identity: nothing to resolve
        flow.resolved = on.resolved
        flow.cost = on.given ?? 1
        flow.stage = DECIDING
        if (on.resolved.length === 0) flow.outcome = NOT_LIMITED
      }
      engine.run(flow)
    })
  }

  const decisionOf = (flow: Flow): RateLimitDecision | undefined =>
    flow.outcome === DECIDED || flow.outcome === LET_THROUGH ? flow.decision : undefined

  /** The limits a request is counted by: those that ran on it, else those its route declares (or `global`). */
  function limitsOf (request: FastifyRequest): CompiledLimit[] {
    const ran: CompiledLimit[] = []
    for (let a = request[kApplied]; a !== null; a = a.previous) {
      if (a.owner === runtime && !ran.includes(a.limit)) ran.unshift(a.limit)
    }
    if (ran.length > 0) return ran
    const route = request.routeOptions
    if (route.url === undefined) return registry.find(NOT_FOUND)
    const declared = (route.config as { rateLimit?: unknown } | undefined)?.rateLimit
    if (declared === undefined) return global === undefined ? [] : [global]
    return registry.find(routeLabel(route.method, route.url))
  }

  /** The store keys of an identity under a limit: its buckets, its ban state, its concurrency slots. */
  function keysOf (limit: CompiledLimit, resolved: ResolvedBucket): string[] {
    const keys = bucketsOf(resolved).map((b) => b.key)
    if (limit.ban !== undefined) keys.push(banKey(resolved.kind, resolved.identity))
    const slot = slotKey(limit, resolved.kind.kind, resolved.identity)
    if (slot !== undefined) keys.push(slot)
    return keys
  }

  async function requestKeys (request: FastifyRequest): Promise<string[]> {
    const keys: string[] = []
    for (let a = request[kApplied]; a !== null; a = a.previous) {
      if (a.owner === runtime) keys.push(...keysOf(a.limit, a))
    }
    if (keys.length === 0) {
      // the limiter did not run on this request: work out what it would have counted
      for (const limit of limitsOf(request)) {
        const flow = await decide(limit, RESOLVE_ONLY, { request })
        for (const resolved of flow.resolved) keys.push(...keysOf(limit, resolved))
      }
    }
    const held = request[kSlot]
    if (held !== null && held.runtime === runtime) keys.push(held.key)
    return keys
  }

  /** The identities a selector gives, encoded as they stand in store keys. */
  function identitiesOf (selector: ResetSelector, method: Method): Array<['ip' | 'user' | 'key', string]> {
    if (selector === null || typeof selector !== 'object') {
      throw new errors.INVALID_SELECTOR(method, `expected a request or { route?, group?, ip?, user?, key? }, received ${formatValue(selector)}`)
    }
    const extra = Object.keys(selector).filter((k) => !['route', 'group', 'ip', 'user', 'key'].includes(k))
    if (extra.length > 0) throw new errors.INVALID_SELECTOR(method, `unknown field ${formatValue(extra[0])}`)
    const { ip, user, key } = selector
    const identities: Array<['ip' | 'user' | 'key', string]> = []
    if (key !== undefined) identities.push(['key', encodePart(checkId(method, 'key', key))])
    if (user !== undefined) identities.push(['user', encodePart(checkId(method, 'user', user))])
    if (ip !== undefined) identities.push(['ip', encodePart(ipIdentity(checkId(method, 'ip', ip), options.ipv6Subnet))])
    if (identities.length === 0) throw new errors.INVALID_SELECTOR(method, 'name at least one of ip, user or key')
    return identities
  }

  /** The limits a selector's route or group names: every limit when it names none (reset only). */
  function limitsNamed (selector: ResetSelector, method: Method): CompiledLimit[] {
    const { route, group } = selector
    if (route !== undefined && group !== undefined) throw new errors.INVALID_SELECTOR(method, 'name a route or a group, not both')
    const name = route ?? group
    if (name === undefined) {
      if (method !== 'reset') throw new errors.INVALID_SELECTOR(method, `name the route (or group) to ${method === 'peek' ? 'peek at' : method}`)
      return [...registry.all]
    }
    const limits = registry.find(checkId(method, route === undefined ? 'group' : 'route', name))
    if (limits.length === 0) throw new errors.UNKNOWN_ROUTE(method, formatValue(name))
    return limits
  }

  /** Every bucket of the identities a selector gives under a limit (rates a function decides: every rate it returned lately). */
  function everyBucket (limit: CompiledLimit, identities: Array<['ip' | 'user' | 'key', string]>): ResolvedBucket[] {
    const resolved: ResolvedBucket[] = []
    for (const [name, identity] of identities) {
      const kind = limit[name]
      if (kind === undefined) continue
      if (kind.dynamic === undefined) resolved.push({ kind, identity })
      else for (const known of kind.dynamic.known()) resolved.push({ kind: known, identity })
    }
    return resolved
  }

  /** The buckets a consume by selector charges: as the hook would pick them (the first kind given, or every one with `apply: 'all'`). */
  function chargedBuckets (limit: CompiledLimit, identities: Array<['ip' | 'user' | 'key', string]>): ResolvedBucket[] {
    const resolved: ResolvedBucket[] = []
    for (const [name, identity] of identities) {
      const kind: CompiledKind | undefined = limit[name]
      if (kind === undefined) continue
      if (kind.dynamic !== undefined) {
        throw new errors.INVALID_SELECTOR('consume', `the ${name} rates of ${limit.route} are decided by a function of the request: consume with the request`)
      }
      resolved.push({ kind, identity })
      if (limit.apply !== 'all') break
    }
    return resolved
  }

  /** The cost of a consume: given (checked), else the limit's. */
  function costOf (limit: CompiledLimit, given: unknown, request: boolean): number | undefined {
    if (given === undefined) return request || typeof limit.cost !== 'number' ? undefined : limit.cost
    if (typeof given !== 'number' || !Number.isInteger(given) || given < 1 || given > limit.maxCost) {
      throw new errors.INVALID_COST(`fastify.rateLimit.consume() on ${limit.route}`, formatValue(given), limit.maxCost)
    }
    return given
  }

  const api: RateLimitApi = {
    store,
    async reset (target) {
      let keys: string[]
      if (isRequest(target)) {
        keys = await requestKeys(target)
      } else {
        const identities = identitiesOf(target, 'reset')
        keys = []
        for (const limit of limitsNamed(target, 'reset')) {
          for (const r of everyBucket(limit, identities)) keys.push(...keysOf(limit, r))
          // a kind counted only by concurrency (no rates of its own) still has slots
          for (const [name, identity] of identities) {
            const slot = slotKey(limit, name, identity)
            if (slot !== undefined && limit[name] === undefined) keys.push(slot)
          }
        }
      }
      // remembered denials may name these buckets: forget them all (reset is rare)
      runtime.denials?.clear()
      const unique = [...new Set(keys)]
      runtime.resets.reset(unique)
      await Promise.all(unique.map((key) => store.reset(key)))
    },
    async peek (target) {
      if (missingOptionalMethods(store, ['peek']).length > 0) {
        throw new errors.STORE_LACKS_METHOD('fastify.rateLimit.peek()', 'peek()', 'peek')
      }
      const decisions: Array<RateLimitDecision | undefined> = []
      if (isRequest(target)) {
        for (const limit of limitsOf(target)) decisions.push(decisionOf(await decide(limit, PEEK, { request: target })))
      } else {
        const identities = identitiesOf(target, 'peek')
        for (const limit of limitsNamed(target, 'peek')) decisions.push(decisionOf(await decide(limit, PEEK, { resolved: everyBucket(limit, identities) })))
      }
      return mostRestrictive(decisions)
    },
    async consume (target, options = {}) {
      if (options === null || typeof options !== 'object') throw new errors.INVALID_SELECTOR('consume', `options must be { cost? }, received ${formatValue(options)}`)
      if (isRequest(target)) {
        let last: RateLimitDecision | undefined
        // each limit in turn, as the hook charges them: a denial charges no later limit
        for (const limit of limitsOf(target)) {
          const decision = decisionOf(await decide(limit, CONSUME, { request: target, given: costOf(limit, options.cost, true) }))
          if (decision === undefined) continue
          if (!decision.allowed && decision.dryRun !== true) return decision
          last = mostRestrictive([last, decision])
        }
        return last
      }
      const identities = identitiesOf(target, 'consume')
      // one set of buckets: a GET route and its HEAD twin, or the routes of a group, share theirs
      const limits = limitsNamed(target, 'consume').filter((l, i, all) => all.findIndex((o) => o.namespace + o.id === l.namespace + l.id) === i)
      // a group is one limit (its registrations share its buckets): only a route's methods can be several
      if (limits.length > 1) {
        throw new errors.INVALID_SELECTOR('consume', `${formatValue(target.route)} names ${limits.length} limits (${limits.map((l) => l.route).join(', ')}): name one, like 'POST /chat', or a group`)
      }
      const [limit] = limits
      const resolved = chargedBuckets(limit, identities)
      return decisionOf(await decide(limit, CONSUME, { resolved, given: costOf(limit, options.cost, false) }))
    },
    async settle (request, cost) {
      if (!isRequest(request)) throw new errors.INVALID_SELECTOR('settle', `expected a request, received ${formatValue(request)}`)
      if (typeof cost !== 'number' || !Number.isInteger(cost) || cost < 0 || cost > MAX_SETTLED_COST) {
        throw new errors.INVALID_SETTLED_COST('fastify.rateLimit.settle()', formatValue(cost), MAX_SETTLED_COST)
      }
      return await settleNow(runtime, request, cost)
    },
    async clear () {
      runtime.denials?.clear()
      runtime.resets.clear()
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
      // no route of its own to give a slot back on: concurrency belongs to config.rateLimit and global
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
      }, engine)
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
  if (typeof value === 'number' && Number.isFinite(value) && field !== 'ip' && field !== 'route' && field !== 'group') return String(value)
  throw new errors.INVALID_SELECTOR(method, `${field} must be a non-empty string${field === 'user' || field === 'key' ? ' or a finite number' : ''}, received ${formatValue(value)}`)
}
