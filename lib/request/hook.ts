import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { StoreBucket, StoreDecision } from '../core/store.js'
import { consumeTo } from '../core/store.js'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import { kApplied } from '../core/symbols.js'
import type { Applied, CompiledKind, CompiledLimit, DynamicRates, LimitContext, RateLimitDecision, ResolvedBucket } from '../core/types.js'
import { bucketsOf, checkCost, identityOf, isThenable, resolverFailed } from './bucket.js'
import { ipIdentity } from './identity.js'
import { encodePart } from './keys.js'
import { UNAVAILABLE_RETRY_S, humanAfter, unavailableResponse } from './response.js'
import type { Runtime } from './runtime.js'
import type { CallTarget } from './guard.js'
import { DelayQueue } from './delay.js'
import type { Delayable, Waiter } from './delay.js'
import { Slots, releaseSlots } from './concurrency.js'
import { settleOnResponse } from './count.js'
import type { SlotAttempt } from './concurrency.js'
import { Bans, UNCHECKED, rateIndex, withGates } from './ban.js'
import type { BanAttempt } from './ban.js'

/** The steps of a request before the store, in order; each may call a function of the user. */
const EXEMPT = 0
const KEY = 1
const KEY_RATE = 2
const USER = 3
const USER_RATE = 4
const IP = 5
const COST = 6
const STORE = 7

/** What a step without a function to call yields. */
const NONE = Symbol('none')

export type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

/** What the hook does with a store's answer: `Attempt` hands it on, without a closure per request. */
interface Answers {
  answered (attempt: Attempt, d: StoreDecision): void
  unanswered (attempt: Attempt, err: unknown): void
}

/** One request's way through one limit: what each step after the store call needs. */
class Attempt implements Delayable, SlotAttempt, BanAttempt, CallTarget {
  /** The hook's handling of store answers, set as the attempt is made. */
  answers: Answers | undefined = undefined
  readonly request: FastifyRequest
  readonly reply: FastifyReply
  readonly done: HookHandlerDoneFunction
  readonly limit: CompiledLimit
  /** The request's buckets under this limit: one kind, or with `apply: 'all'` several. */
  resolved: ResolvedBucket[] = []
  buckets: StoreBucket[] = []
  cost = 1
  /** Why the cost could not be computed: the request is counted at cost 1, then answered with this. */
  error: Error | undefined = undefined
  /** The step before the store this attempt is at (EXEMPT to STORE). */
  step = EXEMPT
  /** The encoded identity of a key or user kind whose rates a function is deciding. */
  pending: string | undefined = undefined
  /** The injected clock's time, when the plugin has a clock. */
  now: number | undefined = undefined
  /** Set when the local fallback store decides (and so charges) instead of the plugin's store. */
  fallback = false
  /** Set when the decision comes from the store and may be remembered as a denial on this server. */
  cacheKey: string | undefined = undefined
  /** Set while the request waits instead of a 429 (`delay`), and while it is decided again. */
  waiter: Waiter | undefined = undefined
  /** Set once the limit's concurrency slot was asked for (taken, or not needed). */
  slotted = false
  /** With a `ban`: the gates and buckets the store decides (lib/request/ban.ts). */
  gated: StoreBucket[] | undefined = undefined
  /** With a `ban`: where the request is with it (ban.ts UNCHECKED, STRUCK, BANNED, STARTED). */
  ban = UNCHECKED

  constructor (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, limit: CompiledLimit) {
    this.request = request
    this.reply = reply
    this.done = done
    this.limit = limit
  }

  /** The store decided (through the guard, see `StoreGuard.call`). */
  answered (d: StoreDecision): void {
    (this.answers as Answers).answered(this, d)
  }

  /** The store failed or timed out. */
  unanswered (err: unknown): void {
    (this.answers as Answers).unanswered(this, err)
  }
}

/**
 * Builds the hook that enforces the limit `select` picks for a request (the route's own, or,
 * for `fastify.rateLimit.hook()`, one compiled per route). The same function serves onRequest,
 * preValidation and preHandler. A synchronous store (memory) answers without a promise.
 */
export function createHook (select: (request: FastifyRequest) => CompiledLimit, runtime: Runtime): Hook {
  const { options, report, guard, denials, warnings } = runtime
  const { store, exempt, clock } = options
  const delays = new DelayQueue((attempt) => start(attempt as Attempt), clock, report)
  runtime.closing.push(() => delays.close())
  const slots = new Slots({ options, report, guard, notify, answered: (attempt) => delays.leave(attempt as Attempt) })
  const bans = new Bans(runtime, (attempt, decision, blocked) => deny(attempt as Attempt, decision, blocked))
  const answers: Answers = {
    answered (attempt, d) {
      guard.succeeded()
      decide(attempt, d)
    },
    unanswered: (attempt, err) => failed(attempt, err, 'async')
  }
  // a store's promise-free way (the Redis store's), when it has one
  const direct = store[consumeTo]

  /** Acts on a decision: keeps it on the request, then lets the request on or answers it. */
  function decide (attempt: Attempt, d: StoreDecision): void {
    const { request, limit, resolved } = attempt
    // which kind and rate the decision describes: the buckets are each kind's rates in turn
    let j = 0
    // a ban's gates come before the rates (ban.ts)
    let index = limit.ban === undefined ? d.index : rateIndex(attempt, d)
    while (index >= resolved[j].kind.rates.length) index -= resolved[j++].kind.rates.length
    const bucket = resolved[j]
    const rate = bucket.kind.rates[index]
    const blocked = !d.allowed && !limit.dryRun
    // delay: a short wait instead of the 429, decided again later
    if (blocked && limit.delay !== undefined && attempt.ban === UNCHECKED && delays.wait(attempt, d.retryAfterMs)) {
      unslot(attempt)
      return
    }
    if (blocked && attempt.cacheKey !== undefined) {
      (denials as NonNullable<typeof denials>).set(attempt.cacheKey, attempt.cost, d, attempt.now)
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
    if (d.allowed && attempt.waiter !== undefined) decision.delayedMs = delays.passed(attempt)
    request.rateLimit = decision
    let previous = request[kApplied]
    // with several kinds, each is recorded (reset(request) forgets them all), the deciding one last
    for (let i = 0; i < resolved.length; i++) {
      if (i === j) continue
      const other = resolved[i]
      previous = { limit, kind: other.kind, identity: other.identity, rate: other.kind.rates[0], now: d.now, blocked, previous }
    }
    request[kApplied] = { limit, kind: bucket.kind, identity: bucket.identity, rate, now: d.now, blocked, previous }
    if (d.allowed) {
      // charged: a limit counting only some responses may give it back once the response is
      // known (count.ts); an uncountable request (attempt.error) stays charged
      if (limit.count !== 'all' && attempt.error === undefined) {
        settleOnResponse(request, attempt.reply, { limit, store: attempt.fallback ? guard.fallback : store, buckets: attempt.buckets, cost: attempt.cost }, runtime)
      }
      report.allowed(request, limit, decision)
      attempt.done(attempt.error)
      return
    }
    deny(attempt, decision, blocked)
  }

  /** A denial: tell `onExceeded`, count it, and answer 429 unless the limit is in dry-run mode. */
  function deny (attempt: Attempt, decision: RateLimitDecision, blocked: boolean): void {
    const { request, limit } = attempt
    // a ban: the denial is counted toward it first, and the answer may be a ban (ban.ts)
    if (limit.ban !== undefined && bans.hold(attempt, decision, blocked)) return
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
    if (decision.banned === true) {
      denial.banned = true
      denial.statusCode = (limit.ban as NonNullable<CompiledLimit['ban']>).statusCode
    }
    notify(request, denial)
    if (limit.ban !== undefined) bans.told(attempt, denial)
    if (!blocked) {
      report.dryRunDenied(request, denial)
      attempt.done(attempt.error)
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
    if (isThenable(body)) {
      body.then((value) => send(attempt, value, denial.statusCode), (err: unknown) => attempt.done(err as Error))
      return
    }
    send(attempt, body, denial.statusCode)
  }

  function send (attempt: Attempt, body: unknown, statusCode: number): void {
    if (attempt.limit.errorContentType !== undefined) attempt.reply.type(attempt.limit.errorContentType)
    attempt.reply.code(statusCode).send(body)
  }

  function notify (request: FastifyRequest, denial: LimitContext): void {
    if (options.onExceeded === undefined) return
    try {
      const result: unknown = options.onExceeded(request, denial)
      if (isThenable(result)) result.then(undefined, (err: unknown) => request.log.error({ err }, 'fastify-limiter: onExceeded failed'))
    } catch (err) {
      request.log.error({ err }, 'fastify-limiter: onExceeded failed')
    }
  }

  /** The store failed (threw, rejected or timed out): report it, then follow the limit's mode. */
  function failed (attempt: Attempt, err: unknown, how: 'async' | 'sync' | 'none'): void {
    report.storeError(attempt.request, attempt.limit, err)
    guard.failed(attempt.request, err, attempt.limit.onStoreError, how)
    degrade(attempt)
  }

  /** Decides without the store: on the local memory store, by letting the request through, or with a 503. */
  function degrade (attempt: Attempt): void {
    const { limit } = attempt
    report.degraded(attempt.request, limit)
    attempt.cacheKey = undefined
    // answered without the store: it waits no more (with 'fallback', decide() may make it wait again)
    delays.leave(attempt)
    if (limit.onStoreError === 'fallback') {
      attempt.fallback = true
      decide(attempt, guard.fallback.consume(attempt.limit.ban === undefined ? attempt.buckets : attempt.gated as StoreBucket[], attempt.cost, attempt.now))
    } else if (limit.onStoreError === 'allow') {
      attempt.done(attempt.error)
    } else {
      attempt.reply.code(503).header('retry-after', UNAVAILABLE_RETRY_S).send(unavailableResponse())
    }
  }

  /** Asks the store (or the denial cache, or the fallback while the breaker is open). */
  function consume (attempt: Attempt): void {
    const { buckets, cost, now } = attempt
    if (denials !== undefined && !attempt.limit.dryRun) {
      const cacheKey = buckets.length === 1 ? buckets[0].key : buckets.map((b) => b.key).join('\n')
      const cached = denials.get(cacheKey, cost, now)
      if (cached !== undefined) {
        decide(attempt, cached)
        return
      }
      attempt.cacheKey = cacheKey
    }
    if (!guard.admit()) {
      degrade(attempt)
      return
    }
    // with a ban, its gates go first (lib/request/ban.ts)
    const asked = attempt.limit.ban === undefined ? buckets : attempt.gated as StoreBucket[]
    if (direct !== undefined) {
      direct.call(store, asked, cost, now, guard.call(attempt))
      return
    }
    let result: StoreDecision | PromiseLike<StoreDecision>
    try {
      result = store.consume(asked, cost, now)
    } catch (err) {
      failed(attempt, err, 'sync')
      return
    }
    if (typeof (result as PromiseLike<StoreDecision>).then === 'function') {
      const call = guard.call(attempt)
      ;(result as PromiseLike<StoreDecision>).then((d) => call.decided(d), (err: unknown) => call.failed(err))
    } else {
      guard.succeeded()
      decide(attempt, result as StoreDecision)
    }
  }

  /**
   * Runs the steps before the store from `attempt.step` on. A step whose function returns a
   * promise waits for it, then the steps go on from its callback; a synchronous function
   * keeps the whole way free of promises and closures.
   */
  function advance (attempt: Attempt): void {
    while (attempt.step !== STORE) {
      // the steps of a rate function wait for an identity: most requests skip them at once
      if ((attempt.step === KEY_RATE || attempt.step === USER_RATE) && attempt.pending === undefined) {
        attempt.step++
        continue
      }
      let value: unknown
      try {
        value = callStep(attempt)
      } catch (err) {
        if (!fail(attempt, err)) return
        continue
      }
      if (value !== NONE && isThenable(value)) {
        value.then((v) => {
          if (settle(attempt, v)) advance(attempt)
        }, (err: unknown) => {
          if (fail(attempt, err)) advance(attempt)
        })
        return
      }
      if (!settle(attempt, value)) return
    }
    charge(attempt)
  }

  /** Calls the user function of the attempt's step: NONE when the step has none to call. */
  function callStep (attempt: Attempt): unknown {
    const { request, limit } = attempt
    switch (attempt.step) {
      case EXEMPT:
        return exempt === undefined ? NONE : exempt(request)
      case KEY:
        return limit.key === undefined ? NONE : (limit.keyFn as NonNullable<CompiledLimit['keyFn']>)(request)
      case KEY_RATE:
        return (limit.key as DynamicKind).dynamic.fn(request)
      case USER:
        return limit.user === undefined || (attempt.resolved.length > 0 && limit.apply !== 'all') ? NONE : options.user(request)
      case USER_RATE:
        return (limit.user as DynamicKind).dynamic.fn(request)
      case IP:
        return limit.ip?.dynamic === undefined || !ipApplies(attempt) ? NONE : limit.ip.dynamic.fn(request)
      default:
        return typeof limit.cost === 'number' ? NONE : limit.cost(request)
    }
  }

  /**
   * Acts on the value of the attempt's step and moves to the next step. False when the
   * request is finished here (exempt, not limited, or an error passed to `done`).
   */
  function settle (attempt: Attempt, value: unknown): boolean {
    const { request, limit } = attempt
    try {
      switch (attempt.step) {
        case EXEMPT:
          if (value !== NONE && value) {
            attempt.done()
            return false
          }
          break
        case KEY:
        case USER: {
          if (value === NONE) break
          const key = attempt.step === KEY
          const id = identityOf(limit, key ? 'key' : 'user', value)
          if (id === undefined) break
          const kind = (key ? limit.key : limit.user) as CompiledKind
          // a kind whose rates a function decides waits for them at the next step
          if (kind.dynamic === undefined) attempt.resolved.push({ kind, identity: encodePart(id) })
          else attempt.pending = encodePart(id)
          break
        }
        case KEY_RATE:
        case USER_RATE: {
          const kind = ((attempt.step === KEY_RATE ? limit.key : limit.user) as DynamicKind).dynamic.compile(value)
          if (kind !== undefined) attempt.resolved.push({ kind, identity: attempt.pending as string })
          attempt.pending = undefined
          break
        }
        case IP:
          if (ipApplies(attempt)) {
            const kind = (limit.ip as CompiledKind).dynamic === undefined ? limit.ip : (limit.ip as DynamicKind).dynamic.compile(value)
            if (kind !== undefined) attempt.resolved.push({ kind, identity: encodePart(ipIdentity(request.ip, options.ipv6Subnet)) })
          }
          warnings.check(request, limit, attempt.resolved)
          attempt.resolved = uncounted(request, attempt.resolved)
          if (attempt.resolved.length === 0) {
            attempt.done()
            return false
          }
          break
        case COST:
          try {
            attempt.cost = value === NONE ? limit.cost as number : checkCost(limit, value, maxCostOf(attempt))
          } catch (err) {
            // counted at cost 1 first, so that a client cannot send uncountable requests at will
            attempt.error = err as Error
          }
      }
    } catch (err) {
      attempt.done(err as Error)
      return false
    }
    attempt.step++
    return true
  }

  /** A step's function threw or rejected. False when that ends the request (with the error). */
  function fail (attempt: Attempt, err: unknown): boolean {
    switch (attempt.step) {
      case EXEMPT:
        attempt.done(err as Error)
        return false
      case KEY:
      case USER:
        attempt.done(resolverFailed(attempt.limit, attempt.step === KEY ? 'key' : 'user', err))
        return false
      case KEY_RATE:
      case USER_RATE:
      case IP:
        attempt.done(resolverFailed(attempt.limit, `${attempt.step === KEY_RATE ? 'key' : attempt.step === USER_RATE ? 'user' : 'ip'} rate`, err))
        return false
      default:
        // an uncountable request is still counted, at cost 1 (see settle)
        attempt.error = resolverFailed(attempt.limit, 'cost', err)
        attempt.step++
        return true
    }
  }

  /** The buckets and cost are known: read the clock, then ask the store. */
  function charge (attempt: Attempt): void {
    const { resolved } = attempt
    attempt.buckets = resolved.length === 1 ? bucketsOf(resolved[0]) : resolved.flatMap(bucketsOf)
    if (attempt.limit.ban !== undefined) attempt.gated = withGates(resolved, attempt.buckets)
    start(attempt)
  }

  /** Reads the clock (when the plugin has one), then asks the store; again after a wait (`delay`). */
  function start (attempt: Attempt): void {
    if (clock !== undefined) {
      let now: unknown
      try {
        now = clock()
      } catch (err) {
        now = err
      }
      if (!isEpochMs(now)) {
        // the store cannot decide at a time that is not one: a store error, following onStoreError
        attempt.now = Date.now()
        failed(attempt, now instanceof Error ? now : new errors.INVALID_CLOCK(formatValue(now)), 'none')
        return
      }
      attempt.now = now
    }
    // concurrency: a slot first, so that a request refused for it charges no rate
    if (attempt.limit.concurrency !== undefined && !attempt.slotted) {
      attempt.slotted = true
      slots.take(attempt, () => proceed(attempt))
      return
    }
    proceed(attempt)
  }

  function proceed (attempt: Attempt): void {
    // delay: behind the waiting requests of the same identity, in arrival order
    if (attempt.waiter === undefined && attempt.limit.delay !== undefined && delays.behind(attempt)) {
      unslot(attempt)
      return
    }
    consume(attempt)
  }

  /**
   * A request that starts waiting (`delay`) gives back its concurrency slot and takes one again
   * when it is decided again (see start): a waiting request is not in flight, and holding a
   * slot while it waits would starve its own client's slots.
   */
  function unslot (attempt: Attempt): void {
    if (!attempt.slotted) return
    attempt.slotted = false
    releaseSlots(attempt.request, runtime)
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
    attempt.answers = answers
    advance(attempt)
  }
}

/** A kind whose rates a function decides. */
type DynamicKind = CompiledKind & { readonly dynamic: DynamicRates }

/** The IP kind counts the request: the limit has one, and no earlier kind took the request (or `apply: 'all'`). */
function ipApplies (attempt: Attempt): boolean {
  return attempt.limit.ip !== undefined && (attempt.resolved.length === 0 || attempt.limit.apply === 'all')
}

/** The largest cost the request's buckets can allow: a rate function's rates count only once known. */
function maxCostOf (attempt: Attempt): number {
  const { limit, resolved } = attempt
  if (!limit.dynamic) return limit.maxCost
  let max = limit.maxCost
  for (let i = 0; i < resolved.length; i++) max = Math.min(max, resolved[i].kind.maxCost)
  return max
}

/** The latest instant a Date can hold, in ms: beyond it a clock's value means nothing. */
const MAX_EPOCH_MS = 8.64e15

/** A clock reading the stores can decide at: integer epoch ms from 0 to MAX_EPOCH_MS. */
function isEpochMs (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_EPOCH_MS
}

/**
 * The resolved buckets less those an earlier limit already charged on this request (the same
 * group declared by a route and by a hook(), say): one bucket is counted once per request.
 */
function uncounted (request: FastifyRequest, resolved: ResolvedBucket[]): ResolvedBucket[] {
  if (request[kApplied] === null) return resolved
  return resolved.filter((r) => !charged(request[kApplied], r))
}

function charged (applied: Applied | null, r: ResolvedBucket): boolean {
  for (let a = applied; a !== null; a = a.previous) {
    if (a.identity === r.identity && a.kind.head === r.kind.head && sameRates(a.kind, r.kind)) return true
  }
  return false
}

function sameRates (a: CompiledKind, b: CompiledKind): boolean {
  return a.rates.length === b.rates.length && a.rates.every((rate, i) => rate.tail === b.rates[i].tail)
}
