import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { StoreBucket, StoreDecision } from '../stores/store.js'
import type { CompiledKind, CompiledLimit, CompiledRate } from './compile.js'
import type { LimitContext, RateLimitDecision } from './context.js'
import { errors } from './errors.js'
import { ipIdentity } from './identity.js'
import { encodePart } from './keys.js'
import type { ResolvedOptions } from './options.js'
import type { Reporter } from './report.js'
import type { DenialCache } from './denials.js'
import { BREAKER_MS } from './guard.js'
import type { StoreGuard } from './guard.js'
import { humanAfter } from './response.js'
import { formatValue } from './validate.js'

/** What a limit applied to a request: kept on the request for headers and `reset(request)`. */
export interface Applied {
  readonly limit: CompiledLimit
  readonly kind: CompiledKind
  /** The encoded identity, as it stands in the store keys. */
  readonly identity: string
  readonly rate: CompiledRate
  readonly now: number
  /** Denied and not in dry-run: the response is a 429. */
  readonly blocked: boolean
  /** The limit applied before this one on the same request, if any. */
  readonly previous: Applied | null
}

/** Request decoration holding the last `Applied`. */
export const kApplied = Symbol('fastify-limiter.applied')

declare module 'fastify' {
  interface FastifyRequest {
    [kApplied]: Applied | null
  }
}

export interface LimiterContext {
  readonly options: ResolvedOptions
  readonly report: Reporter
  readonly guard: StoreGuard
  /** Remembered denials; undefined for the memory store, which is as fast as the cache. */
  readonly denials: DenialCache | undefined
}

/** The bucket kind and identity a request falls in for a limit, or undefined when none applies. */
export interface Resolved {
  kind: CompiledKind
  identity: string
}

/**
 * Picks the bucket for a request: the `key` bucket when the key function returns an identity,
 * else the user bucket when the route has one and the user resolver returns an id, else the
 * IP bucket when the route has one. Throws coded errors for resolvers that throw or return
 * something that is not an identity.
 */
export function resolveBucket (request: FastifyRequest, limit: CompiledLimit, options: ResolvedOptions): Resolved | undefined {
  if (limit.key !== undefined) {
    const id = identityOf(request, limit, 'key', limit.keyFn as NonNullable<CompiledLimit['keyFn']>)
    if (id !== undefined) return { kind: limit.key, identity: encodePart(id) }
  }
  if (limit.user !== undefined) {
    const id = identityOf(request, limit, 'user', options.user)
    if (id !== undefined) return { kind: limit.user, identity: encodePart(id) }
  }
  if (limit.ip !== undefined) {
    return { kind: limit.ip, identity: encodePart(ipIdentity(request.ip, options.ipv6Subnet)) }
  }
  return undefined
}

function identityOf (
  request: FastifyRequest,
  limit: CompiledLimit,
  what: string,
  resolver: (request: FastifyRequest) => unknown
): string | undefined {
  let value: unknown
  try {
    value = resolver(request)
  } catch (err) {
    throw new errors.RESOLVER_FAILED(limit.where, what, err instanceof Error ? err.message : formatValue(err), { cause: err })
  }
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string' && value !== '') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  throw new errors.INVALID_IDENTITY(limit.where, what, formatValue(value))
}

function costOf (request: FastifyRequest, limit: CompiledLimit): number {
  if (typeof limit.cost === 'number') return limit.cost
  let value: unknown
  try {
    value = limit.cost(request)
  } catch (err) {
    throw new errors.RESOLVER_FAILED(limit.where, 'cost', err instanceof Error ? err.message : formatValue(err), { cause: err })
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > limit.maxCost) {
    throw new errors.INVALID_COST(limit.where, formatValue(value), limit.maxCost)
  }
  return value
}

/** The store keys of a request's buckets, one per rate. */
export function bucketsOf (resolved: Resolved): StoreBucket[] {
  const { kind, identity } = resolved
  const { rates } = kind
  // a loop rather than rates.map(): no closure per request on the hot path
  const buckets: StoreBucket[] = new Array(rates.length)
  for (let i = 0; i < rates.length; i++) {
    const rate = rates[i]
    buckets[i] = { key: kind.head + identity + rate.tail, algorithm: rate.algorithm, params: rate.params }
  }
  return buckets
}

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

/**
 * Builds the hook that enforces `limit` (or, for `fastify.rateLimit.hook()`, the limit a
 * function picks per request). The same function serves onRequest, preValidation and
 * preHandler. A synchronous store (memory) answers without a promise.
 */
export function createHook (select: (request: FastifyRequest) => CompiledLimit, context: LimiterContext): Hook {
  const { options, report, guard, denials } = context
  const { store, exempt, clock } = options

  /**
   * Acts on a decision. `cacheKey` is set when the decision came from the store and may be
   * remembered as a denial on this server.
   */
  function decide (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction,
    limit: CompiledLimit, resolved: Resolved, d: StoreDecision, cacheKey: string | undefined, cost: number): void {
    const rate = resolved.kind.rates[d.index]
    const blocked = !d.allowed && !limit.dryRun
    if (blocked && cacheKey !== undefined) {
      (denials as DenialCache).set(cacheKey, cost, d, guard.now())
    }
    const decision: RateLimitDecision = {
      allowed: d.allowed,
      limit: d.limit,
      remaining: d.remaining,
      resetMs: d.resetMs,
      retryAfterMs: d.retryAfterMs,
      bucket: resolved.kind.kind,
      rate: rate.text
    }
    request.rateLimit = decision
    request[kApplied] = {
      limit, kind: resolved.kind, identity: resolved.identity, rate, now: d.now, blocked, previous: request[kApplied]
    }
    if (d.allowed) {
      report.allowed(request, limit, decision)
      done()
      return
    }
    const retryAfter = Math.ceil(d.retryAfterMs / 1000)
    // Every field written out: `{ ...decision, statusCode, ... }` takes V8's slow object-clone
    // path here and cost about 20 µs per denial (bench/, "every response 429").
    const limitContext: LimitContext = {
      allowed: decision.allowed,
      limit: decision.limit,
      remaining: decision.remaining,
      resetMs: decision.resetMs,
      retryAfterMs: decision.retryAfterMs,
      bucket: decision.bucket,
      rate: decision.rate,
      statusCode: 429,
      retryAfter,
      after: humanAfter(retryAfter),
      route: limit.route,
      dryRun: limit.dryRun
    }
    notify(request, limitContext)
    if (!blocked) {
      report.dryRunDenied(request, limitContext)
      done()
      return
    }
    report.denied(request, limitContext)
    let body: unknown
    try {
      body = options.errorResponseBuilder(request, limitContext)
    } catch (err) {
      done(err as Error)
      return
    }
    reply.code(429).send(body)
  }

  function notify (request: FastifyRequest, limitContext: LimitContext): void {
    if (options.onExceeded === undefined) return
    try {
      const result: unknown = options.onExceeded(request, limitContext)
      if (result instanceof Promise) result.catch((err) => request.log.error({ err }, 'fastify-limiter: onExceeded failed'))
    } catch (err) {
      request.log.error({ err }, 'fastify-limiter: onExceeded failed')
    }
  }

  /** The store failed (threw, rejected or timed out): report it, then follow the limit's mode. */
  function failed (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, limit: CompiledLimit,
    resolved: Resolved, buckets: StoreBucket[], cost: number, now: number | undefined, err: unknown): void {
    report.storeError(request, limit, err)
    guard.failed(request, err, limit.onStoreError)
    degrade(request, reply, done, limit, resolved, buckets, cost, now)
  }

  /** Decides without the store: on the local memory store, by letting the request through, or with a 503. */
  function degrade (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, limit: CompiledLimit,
    resolved: Resolved, buckets: StoreBucket[], cost: number, now: number | undefined): void {
    report.degraded(request, limit)
    if (limit.onStoreError === 'fallback') {
      decide(request, reply, done, limit, resolved, guard.fallback.consume(buckets, cost, now), undefined, cost)
    } else if (limit.onStoreError === 'allow') {
      done()
    } else {
      reply.code(503).header('retry-after', UNAVAILABLE_RETRY_S).send(unavailable())
    }
  }

  return function rateLimitHook (request, reply, done) {
    const limit = select(request)
    // A limit registered twice on one request (a hook added at several levels) counts once.
    for (let a = request[kApplied]; a !== null; a = a.previous) {
      if (a.limit === limit) {
        done()
        return
      }
    }
    let resolved: Resolved | undefined
    let cost: number
    try {
      if (exempt !== undefined && exempt(request)) {
        done()
        return
      }
      resolved = resolveBucket(request, limit, options)
      if (resolved === undefined) {
        done()
        return
      }
      cost = costOf(request, limit)
    } catch (err) {
      done(err as Error)
      return
    }
    const found = resolved
    const buckets = bucketsOf(found)
    const now = clock === undefined ? undefined : clock()
    let cacheKey: string | undefined
    if (denials !== undefined && !limit.dryRun) {
      cacheKey = buckets.length === 1 ? buckets[0].key : buckets.map((b) => b.key).join('\n')
      const cached = denials.get(cacheKey, cost, now ?? guard.now())
      if (cached !== undefined) {
        decide(request, reply, done, limit, found, cached, undefined, cost)
        return
      }
    }
    if (guard.open) {
      degrade(request, reply, done, limit, found, buckets, cost, now)
      return
    }
    let result: StoreDecision | PromiseLike<StoreDecision>
    try {
      result = store.consume(buckets, cost, now)
    } catch (err) {
      failed(request, reply, done, limit, found, buckets, cost, now, err)
      return
    }
    if (typeof (result as PromiseLike<StoreDecision>).then === 'function') {
      guard.bound(result as PromiseLike<StoreDecision>).then(
        (d) => decide(request, reply, done, limit, found, d, cacheKey, cost),
        (err: unknown) => failed(request, reply, done, limit, found, buckets, cost, now, err)
      )
    } else {
      decide(request, reply, done, limit, found, result as StoreDecision, cacheKey, cost)
    }
  }
}

/** Retry-After of a 503 while the store is failing: when the store is asked again. */
const UNAVAILABLE_RETRY_S = Math.ceil(BREAKER_MS / 1000)

function unavailable () {
  return {
    statusCode: 503,
    error: 'Service Unavailable',
    message: `The rate-limit store is unavailable, retry in ${humanAfter(UNAVAILABLE_RETRY_S)}`
  }
}
