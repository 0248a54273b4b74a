import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { StoreBucket, StoreDecision } from '../core/store.js'
import { kApplied } from '../core/symbols.js'
import type { CompiledLimit, LimitContext, RateLimitDecision, ResolvedBucket } from '../core/types.js'
import { bucketsOf, costOf, resolveBucket } from './bucket.js'
import { UNAVAILABLE_RETRY_S, humanAfter, unavailableResponse } from './response.js'
import type { Runtime } from './runtime.js'

export type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

/** One request's way through one limit: what each step after the store call needs. */
class Attempt {
  readonly request: FastifyRequest
  readonly reply: FastifyReply
  readonly done: HookHandlerDoneFunction
  readonly limit: CompiledLimit
  bucket: ResolvedBucket | undefined = undefined
  buckets: StoreBucket[] = []
  cost = 1
  /** The injected clock's time, when the plugin has a clock. */
  now: number | undefined = undefined
  /** Set when the decision comes from the store and may be remembered as a denial on this server. */
  cacheKey: string | undefined = undefined

  constructor (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, limit: CompiledLimit) {
    this.request = request
    this.reply = reply
    this.done = done
    this.limit = limit
  }
}

/**
 * Builds the hook that enforces the limit `select` picks for a request (the route's own, or,
 * for `fastify.rateLimit.hook()`, one compiled per route). The same function serves onRequest,
 * preValidation and preHandler. A synchronous store (memory) answers without a promise.
 */
export function createHook (select: (request: FastifyRequest) => CompiledLimit, runtime: Runtime): Hook {
  const { options, report, guard, denials } = runtime
  const { store, exempt, clock } = options

  /** Acts on a decision: keeps it on the request, then lets the request on or answers it. */
  function decide (attempt: Attempt, d: StoreDecision): void {
    const { request, limit } = attempt
    const bucket = attempt.bucket as ResolvedBucket
    const rate = bucket.kind.rates[d.index]
    const blocked = !d.allowed && !limit.dryRun
    if (blocked && attempt.cacheKey !== undefined) {
      (denials as NonNullable<typeof denials>).set(attempt.cacheKey, attempt.cost, d, guard.now())
    }
    const decision: RateLimitDecision = {
      allowed: d.allowed,
      limit: d.limit,
      remaining: d.remaining,
      resetMs: d.resetMs,
      retryAfterMs: d.retryAfterMs,
      bucket: bucket.kind.kind,
      rate: rate.text
    }
    request.rateLimit = decision
    request[kApplied] = {
      limit, kind: bucket.kind, identity: bucket.identity, rate, now: d.now, blocked, previous: request[kApplied]
    }
    if (d.allowed) {
      report.allowed(request, limit, decision)
      attempt.done()
      return
    }
    deny(attempt, decision, blocked)
  }

  /** A denial: tell `onExceeded`, count it, and answer 429 unless the limit is in dry-run mode. */
  function deny (attempt: Attempt, decision: RateLimitDecision, blocked: boolean): void {
    const { request, limit } = attempt
    const retryAfter = Math.ceil(decision.retryAfterMs / 1000)
    // Every field written out: `{ ...decision, statusCode, ... }` takes V8's slow object-clone
    // path here and cost about 20 µs per denial (bench/, "every response 429").
    const denial: LimitContext = {
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
    notify(request, denial)
    if (!blocked) {
      report.dryRunDenied(request, denial)
      attempt.done()
      return
    }
    report.denied(request, denial)
    let body: unknown
    try {
      body = limit.errorResponseBuilder(request, denial)
    } catch (err) {
      attempt.done(err as Error)
      return
    }
    if (limit.errorContentType !== undefined) attempt.reply.type(limit.errorContentType)
    attempt.reply.code(429).send(body)
  }

  function notify (request: FastifyRequest, denial: LimitContext): void {
    if (options.onExceeded === undefined) return
    try {
      const result: unknown = options.onExceeded(request, denial)
      if (result instanceof Promise) result.catch((err) => request.log.error({ err }, 'fastify-limiter: onExceeded failed'))
    } catch (err) {
      request.log.error({ err }, 'fastify-limiter: onExceeded failed')
    }
  }

  /** The store failed (threw, rejected or timed out): report it, then follow the limit's mode. */
  function failed (attempt: Attempt, err: unknown): void {
    report.storeError(attempt.request, attempt.limit, err)
    guard.failed(attempt.request, err, attempt.limit.onStoreError)
    degrade(attempt)
  }

  /** Decides without the store: on the local memory store, by letting the request through, or with a 503. */
  function degrade (attempt: Attempt): void {
    const { limit } = attempt
    report.degraded(attempt.request, limit)
    attempt.cacheKey = undefined
    if (limit.onStoreError === 'fallback') {
      decide(attempt, guard.fallback.consume(attempt.buckets, attempt.cost, attempt.now))
    } else if (limit.onStoreError === 'allow') {
      attempt.done()
    } else {
      attempt.reply.code(503).header('retry-after', UNAVAILABLE_RETRY_S).send(unavailableResponse())
    }
  }

  /** Asks the store (or the denial cache, or the fallback while the breaker is open). */
  function consume (attempt: Attempt): void {
    const { buckets, cost, now } = attempt
    if (denials !== undefined && !attempt.limit.dryRun) {
      const cacheKey = buckets.length === 1 ? buckets[0].key : buckets.map((b) => b.key).join('\n')
      const cached = denials.get(cacheKey, cost, now ?? guard.now())
      if (cached !== undefined) {
        decide(attempt, cached)
        return
      }
      attempt.cacheKey = cacheKey
    }
    if (guard.open) {
      degrade(attempt)
      return
    }
    let result: StoreDecision | PromiseLike<StoreDecision>
    try {
      result = store.consume(buckets, cost, now)
    } catch (err) {
      failed(attempt, err)
      return
    }
    if (typeof (result as PromiseLike<StoreDecision>).then === 'function') {
      guard.bound(result as PromiseLike<StoreDecision>).then(
        (d) => decide(attempt, d),
        (err: unknown) => failed(attempt, err)
      )
    } else {
      decide(attempt, result as StoreDecision)
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
    const attempt = new Attempt(request, reply, done, limit)
    try {
      if (exempt !== undefined && exempt(request)) {
        done()
        return
      }
      attempt.bucket = resolveBucket(request, limit, options)
      if (attempt.bucket === undefined) {
        done()
        return
      }
      attempt.cost = costOf(request, limit)
    } catch (err) {
      done(err as Error)
      return
    }
    attempt.buckets = bucketsOf(attempt.bucket)
    attempt.now = clock === undefined ? undefined : clock()
    consume(attempt)
  }
}
