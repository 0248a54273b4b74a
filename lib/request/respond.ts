import type { FastifyRequest } from 'fastify'
import type { StoreDecision } from '../core/store.js'
import { errors } from '../core/errors.js'
import { kApplied } from '../core/symbols.js'
import type { Applied, CompiledBan, CompiledLimit, ExceedingContext, LimitContext, RateLimitDecision } from '../core/types.js'
import { isThenable, locate } from './bucket.js'
import { releaseSlot, slotDenial } from './concurrency.js'
import { BANNED, DECIDED, DROPPED, FAILED, HTTP, LET_THROUGH, NOT_LIMITED, PEEK, SLOTS_FULL, SLOTTED, STARTED, UNAVAILABLE } from './flow.js'
import type { Flow } from './flow.js'
import { UNAVAILABLE_RETRY_S, humanAfter, unavailableResponseFor } from './response.js'
import { track } from './settle.js'

/**
 * Stage 3, respond: the flow's outcome becomes the request's: it goes on to its handler, or is
 * answered here (the limit's denial status, 429 unless set; the ban's status; 503), with
 * `request.rateLimit`, the headers (`headers`, or `deniedHeaders` on a denial), the counters,
 * `onExceeding`, `onExceeded` and `onBan`. Outside the HTTP hook (`consume()`, `peek()`), the
 * outcome becomes the promise's value. Either way `flow.end` is called once when the request goes on.
 */
export function respond (flow: Flow): void {
  const { runtime } = flow.engine
  if (flow.waiter !== undefined && !(flow.outcome === DECIDED && (flow.answer as StoreDecision).allowed)) runtime.delays.leave(flow)
  // a dry run goes on past a full set of slots: onExceeded hears of it all the same
  if (flow.grant !== undefined && flow.outcome !== SLOTS_FULL) notify(flow, slotDenial(flow).context)
  switch (flow.outcome) {
    case DECIDED:
      decided(flow)
      return
    case SLOTTED:
      track(flow, undefined)
      flow.end(flow)
      return
    case NOT_LIMITED:
      flow.end(flow)
      return
    case LET_THROUGH:
      if (flow.mode !== HTTP) flow.decision = letThrough(flow)
      track(flow, undefined)
      flow.end(flow)
      return
    case SLOTS_FULL:
      slotsFull(flow)
      return
    case UNAVAILABLE:
      releaseSlot(flow)
      unavailable(flow)
      return
    case FAILED:
      releaseSlot(flow)
      flow.end(flow)
      return
    default:
      // DROPPED: the client went away; its slot was given back, there is no one to answer
      flow.outcome = DROPPED
  }
}

/** The store decided: the request passes (charged), or is denied. */
function decided (flow: Flow): void {
  const { limit, request } = flow
  const { runtime } = flow.engine
  const d = flow.answer as StoreDecision
  // one kind without a ban (most limits): the index is the rate's, and no object is made to say so
  const { bucket, rate } = flow.resolved.length === 1 && limit.ban === undefined
    ? { bucket: flow.resolved[0], rate: flow.resolved[0].kind.rates[d.index] }
    : locate(flow.resolved, d.index, limit.ban !== undefined)
  const decision: RateLimitDecision = {
    allowed: d.allowed,
    limit: d.limit,
    remaining: d.remaining,
    resetMs: d.resetMs,
    retryAfterMs: d.retryAfterMs,
    bucket: bucket.kind.kind,
    rate: rate.text
  }
  if (flow.ban >= BANNED) {
    // denied until the ban ends (a rate that denies for longer is told after the ban, with an
    // ordinary 429: a ban never lengthens what the rate says)
    decision.banned = true
    decision.remaining = 0
    decision.retryAfterMs = flow.bannedUntil - d.now
    decision.resetMs = flow.bannedUntil
  }
  if (!d.allowed && limit.dryRun) decision.dryRun = true
  if (d.allowed && flow.waiter !== undefined) decision.delayedMs = runtime.delays.passed(flow)
  flow.decision = decision
  if (flow.mode === PEEK) {
    // nothing was charged nor answered: not a decision to count, tell or log
    flow.end(flow)
    return
  }
  const blocked = !d.allowed && !limit.dryRun
  if (flow.mode === HTTP) {
    const req = request as FastifyRequest
    req.rateLimit = decision
    const applied = record(flow, req, bucket, rate, blocked)
    const write = blocked ? limit.writeDeniedHeaders : limit.writeHeaders
    if (write !== undefined) write(flow.reply as NonNullable<Flow['reply']>, decision, applied)
    // a dry run's denial goes on to the handler too, with its slot
    if (!blocked) track(flow, applied)
    else releaseSlot(flow)
  }
  if (d.allowed) {
    runtime.report.allowed(limit, decision)
    if (limit.onExceeding !== undefined) exceeding(flow, limit.onExceeding, decision)
    flow.end(flow)
    return
  }
  deny(flow, decision, blocked, bucket.identity)
}

/**
 * Keeps the decision on the request (`request[kApplied]`) for headers, logs, `reset(request)` and
 * settling: with several kinds (`apply: 'all'`) each is recorded, the deciding one last.
 */
function record (flow: Flow, request: FastifyRequest, bucket: Flow['resolved'][number], rate: Applied['rate'], blocked: boolean): Applied {
  const { limit, resolved } = flow
  const d = flow.answer as StoreDecision
  const owner = flow.engine.runtime
  let previous = request[kApplied]
  for (let i = 0; i < resolved.length; i++) {
    const other = resolved[i]
    if (other === bucket) continue
    previous = { limit, kind: other.kind, identity: other.identity, rate: other.kind.rates[0], now: d.now, blocked, previous, charged: undefined, cost: 0, fallback: false, generation: 0, owner, settled: true }
  }
  const applied: Applied = {
    limit,
    kind: bucket.kind,
    identity: bucket.identity,
    rate,
    now: d.now,
    blocked,
    previous,
    // an uncountable request (flow.error) stays charged: nothing settles it
    charged: d.allowed && flow.error === undefined ? flow.buckets : undefined,
    cost: flow.cost,
    fallback: flow.fallback,
    generation: owner.resets.generation,
    owner,
    settled: !d.allowed || flow.error !== undefined
  }
  request[kApplied] = applied
  return applied
}

/** A denial: `onExceeded`, a ban's count and `onBan`, the counters and log, then the 429 (or the ban's status) unless the limit is in dry-run mode. */
function deny (flow: Flow, decision: RateLimitDecision, blocked: boolean, identity: string): void {
  const { limit, request } = flow
  const { report } = flow.engine.runtime
  const retryAfter = Math.ceil(decision.retryAfterMs / 1000)
  const denial = contextOf(decision, limit.route) as LimitContext
  denial.statusCode = limit.statusCode
  denial.retryAfter = retryAfter
  denial.after = humanAfter(retryAfter)
  denial.dryRun = limit.dryRun
  if (flow.ban >= BANNED) {
    denial.banned = true
    denial.statusCode = (limit.ban as CompiledBan).statusCode
  }
  notify(flow, denial)
  if (flow.ban >= BANNED) banned(flow, denial)
  if (!blocked) {
    report.dryRunDenied(flow.log, denial, identity)
    flow.end(flow)
    return
  }
  report.denied(flow.log, denial, identity)
  if (flow.mode !== HTTP) {
    flow.end(flow)
    return
  }
  let body: unknown
  try {
    body = limit.errorResponseBuilder(request as FastifyRequest, denial)
  } catch (err) {
    fail(flow, err as Error)
    return
  }
  if (isThenable(body)) {
    body.then((value) => send(flow, value, denial.statusCode), (err: unknown) => fail(flow, err as Error))
    return
  }
  send(flow, body, denial.statusCode)
}

/** A request refused by its concurrency limit: the limit's denial status (429) with `Retry-After: 1`. */
function slotsFull (flow: Flow): void {
  const { limit } = flow
  const { decision, context } = slotDenial(flow)
  flow.decision = decision
  const request = flow.request as FastifyRequest
  request.rateLimit = decision
  notify(flow, context)
  flow.engine.runtime.report.concurrencyDenied(limit)
  let body: unknown
  try {
    body = limit.errorResponseBuilder(request, context)
  } catch (err) {
    fail(flow, err as Error)
    return
  }
  if (limit.retryAfterHeader !== undefined) (flow.reply as NonNullable<Flow['reply']>).header(limit.retryAfterHeader, context.retryAfter)
  send(flow, body, context.statusCode)
}

/** The store failed and the limit's onStoreError is 'deny': a 503, or for `consume()` and `peek()` a coded rejection. */
function unavailable (flow: Flow): void {
  if (flow.mode !== HTTP) {
    flow.error = new errors.STORE_UNAVAILABLE(flow.limit.where)
    flow.end(flow)
    return
  }
  const { body, contentType } = unavailableResponseFor(flow.limit.errorFormat)
  const reply = flow.reply as NonNullable<Flow['reply']>
  if (contentType !== undefined) reply.type(contentType)
  reply.code(503).header('retry-after', UNAVAILABLE_RETRY_S).send(body)
}

/** What `consume()` and `peek()` resolve to when the store failed and the limit lets requests through: allowed, as if the bucket were full. */
function letThrough (flow: Flow): RateLimitDecision {
  const { kind } = flow.resolved[0]
  const rate = kind.rates[0]
  const now = flow.now ?? Date.now()
  return { allowed: true, limit: rate.params.limit, remaining: rate.params.limit, resetMs: now, retryAfterMs: 0, bucket: kind.kind, rate: rate.text }
}

function send (flow: Flow, body: unknown, statusCode: number): void {
  const reply = flow.reply as NonNullable<Flow['reply']>
  const { errorContentType } = flow.limit
  if (errorContentType !== undefined) reply.type(errorContentType)
  reply.code(statusCode).send(body)
}

/** The request fails here with `err` (Fastify's error handler answers it). */
function fail (flow: Flow, err: Error): void {
  flow.error = err
  flow.outcome = FAILED
  flow.end(flow)
}

/** Tells `onExceeded` of a denial; its failure is logged, never the request's. */
function notify (flow: Flow, context: LimitContext): void {
  const { onExceeded } = flow.limit
  if (onExceeded === undefined || flow.request === undefined) return
  call(flow, () => onExceeded(flow.request as FastifyRequest, context), 'onExceeded')
}

/**
 * Tells `onExceeding` of a request the limit allowed (and charged: the hook, or `consume()` of a
 * request), with its decision and the limit's route; its failure is logged, never the request's.
 */
function exceeding (flow: Flow, onExceeding: NonNullable<CompiledLimit['onExceeding']>, decision: RateLimitDecision): void {
  const request = flow.request
  if (request === undefined) return
  const context = contextOf(decision, flow.limit.route)
  if (decision.delayedMs !== undefined) context.delayedMs = decision.delayedMs
  call(flow, () => onExceeding(request, context), 'onExceeding')
}

/**
 * The decision's fields and the limit's route, every field written out: `{ ...decision }` takes
 * V8's slow object-clone path and cost about 20 µs per denial (bench/, "every response 429").
 */
function contextOf (decision: RateLimitDecision, route: string): ExceedingContext {
  return {
    allowed: decision.allowed,
    limit: decision.limit,
    remaining: decision.remaining,
    resetMs: decision.resetMs,
    retryAfterMs: decision.retryAfterMs,
    bucket: decision.bucket,
    rate: decision.rate,
    route
  }
}

/** A banned answer: counted, and `onBan` called once per ban, by the request that started it. */
function banned (flow: Flow, denial: LimitContext): void {
  const { limit, request } = flow
  flow.engine.runtime.report.banned(limit, flow.ban === STARTED)
  const { onBan } = limit.ban as CompiledBan
  if (flow.ban !== STARTED || onBan === undefined || request === undefined) return
  call(flow, () => onBan(request, denial), 'onBan')
}

/** Calls a callback of the user whose result does not matter: a throw or a rejection is logged. */
function call (flow: Flow, fn: () => unknown, name: string): void {
  try {
    const result = fn()
    if (isThenable(result)) result.then(undefined, (err: unknown) => flow.log.error({ err }, `fastify-limiter: ${name} failed`))
  } catch (err) {
    flow.log.error({ err }, `fastify-limiter: ${name} failed`)
  }
}
