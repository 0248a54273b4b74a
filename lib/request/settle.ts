import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import { kApplied } from '../core/symbols.js'
import type { Applied } from '../core/types.js'
import { isThenable } from './bucket.js'
import { isEpochMs } from './clock.js'
import { giveBack } from './concurrency.js'
import type { Flow, Runtime } from './flow.js'
import { ignore } from './guard.js'
import type { Caller } from './guard.js'
import { LogThrottle, causeOf } from './log-throttle.js'

/**
 * Stage 4, settle: after the response (its raw response's `'close'`, which comes once the
 * response is finished or the connection is gone: a streamed reply is settled when its stream
 * ends or is aborted). Gives back the concurrency slot, and settles the charge: `count` refunds
 * it when the response should not count; `settle` replaces it by the cost known now. Only the
 * requests of a limit that uses one of them pay for the listener.
 *
 * A charge is settled at most once, whoever comes first: `fastify.rateLimit.settle()` from the
 * handler, or this stage. A charge made before a `reset()` of its bucket is never settled (it was
 * forgotten with the bucket). Nothing here throws or delays the response, which is sent already.
 */

/** Request decoration: the slot a request holds until it ends. */
export const kSlot = Symbol('fastify-limiter.slot')

/** A slot a request holds, and what gives it back. */
export interface HeldSlot {
  readonly key: string
  readonly token: string
  readonly fallback: boolean
  readonly runtime: Runtime
  readonly limit: Flow['limit']
}

declare module 'fastify' {
  interface FastifyRequest {
    [kSlot]: HeldSlot | null
  }
}

/**
 * A request passes to its handler: what settles when it ends is armed, when there is any (a slot
 * held, or a charge whose limit has a `count` other than 'all' or a `settle`).
 */
export function track (flow: Flow, applied: Applied | undefined): void {
  const { limit } = flow
  const request = flow.request as FastifyRequest
  const held = flow.held
  const settles = applied?.charged !== undefined && (limit.count !== 'all' || limit.settle !== undefined)
  if (held === undefined && !settles) return
  if (held !== undefined) {
    flow.held = undefined
    request[kSlot] = { key: held.key, token: held.token, fallback: held.fallback, runtime: flow.engine.runtime, limit }
  }
  const reply = flow.reply as FastifyReply
  reply.raw.once('close', () => ended(request, reply, held !== undefined, settles ? applied : undefined))
}

/** The response is finished, or the connection gone. */
function ended (request: FastifyRequest, reply: FastifyReply, slot: boolean, applied: Applied | undefined): void {
  if (slot) releaseHeld(request)
  if (applied === undefined || applied.settled) return
  const { limit } = applied
  const runtime = applied.owner as Runtime
  const { count } = limit
  if (count !== 'all') {
    // an aborted response says nothing of how it went: the request stays counted
    if (!reply.raw.writableEnded) return settleBy(request, reply, applied)
    if (count === 'failed' || count === 'successful') {
      if ((reply.statusCode >= 400) === (count === 'successful')) settleTo(runtime, request.log, applied, 0)
      else settleBy(request, reply, applied)
      return
    }
    let counts: unknown
    try {
      counts = count(request, reply)
    } catch (err) {
      // the request stays counted: a broken count function must not give requests away
      failed(runtime, request.log, applied, err, 'the count function threw')
      return
    }
    once(counts, (value) => {
      if (value === false) settleTo(runtime, request.log, applied, 0)
      else settleBy(request, reply, applied)
    }, (err) => failed(runtime, request.log, applied, err, 'the count function threw'))
    return
  }
  settleBy(request, reply, applied)
}

/** The limit's `settle` function, if any, says what the request cost. */
function settleBy (request: FastifyRequest, reply: FastifyReply, applied: Applied): void {
  const { settle } = applied.limit
  if (settle === undefined) return
  const runtime = applied.owner as Runtime
  let cost: unknown
  try {
    cost = settle(request, reply)
  } catch (err) {
    failed(runtime, request.log, applied, err, 'the settle function threw')
    return
  }
  once(cost, (value) => settleTo(runtime, request.log, applied, value), (err) => failed(runtime, request.log, applied, err, 'the settle function threw'))
}

/** Gives back the slot the request holds, when its response ends (one slot per request: `hook()` limits have none). */
function releaseHeld (request: FastifyRequest): void {
  const slot = request[kSlot] as HeldSlot
  request[kSlot] = null
  giveBack(slot.runtime, { log: request.log, limit: slot.limit }, slot)
}

/**
 * `fastify.rateLimit.settle(request, cost)`: every unsettled charge this registration made on the
 * request becomes `cost`. Resolves true when one was settled, false when there was none (not
 * charged, denied, settled already, or reset since).
 */
export function settleNow (runtime: Runtime, request: FastifyRequest, cost: number): Promise<boolean> {
  const pending: Array<Promise<boolean>> = []
  for (let a = request[kApplied]; a !== null; a = a.previous) {
    if (a.owner === runtime && !a.settled) pending.push(new Promise((resolve) => settleTo(runtime, request.log, a, cost, resolve)))
  }
  return Promise.all(pending).then((settled) => settled.includes(true))
}

/** The largest settled cost: beyond it, integer arithmetic on the stores' states would not stay exact. */
export const MAX_SETTLED_COST = 2 ** 40

/**
 * The charge becomes `value`: the difference is charged (even past the limit: debt) or refunded,
 * once, through the store guard. `done(true)` once the store took it, `done(false)` when nothing
 * was settled.
 */
function settleTo (runtime: Runtime, log: FastifyRequest['log'], applied: Applied, value: unknown, done: (settled: boolean) => void = ignore): void {
  if (applied.settled) return done(false)
  const caller: Caller = { log, limit: applied.limit, answered: () => done(true), unanswered: () => done(false) }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_SETTLED_COST) {
    failed(runtime, log, applied, new errors.INVALID_SETTLED_COST(applied.limit.where, formatValue(value), MAX_SETTLED_COST), 'a settled cost was invalid')
    return done(false)
  }
  applied.settled = true
  const buckets = applied.charged as NonNullable<Applied['charged']>
  // the bucket it was charged to was forgotten: taking from the new one would let a client past its limit
  if (runtime.resets.since(applied.generation, buckets)) return done(false)
  const delta = value - applied.cost
  if (delta === 0) return done(true)
  const { clock } = runtime.options
  let now: number | undefined
  if (clock !== undefined) {
    let reading: unknown
    try {
      reading = clock()
    } catch (err) {
      reading = err
    }
    if (!isEpochMs(reading)) {
      // a store error (not the store's): the request stays charged what it was
      runtime.guard.failure(caller, 'refund', reading instanceof Error ? reading : new errors.INVALID_CLOCK(formatValue(reading)), 'none')
      return done(false)
    }
    now = reading
  }
  const op = delta < 0 ? 'refund' : 'charge'
  if (applied.fallback) {
    const fallback = runtime.guard.fallback
    if (op === 'refund') fallback.refund(buckets, -delta, now)
    else fallback.charge(buckets, delta, now)
    return done(true)
  }
  runtime.guard.run(caller, op, buckets, Math.abs(delta), now)
}

/** Calls `then` with a value, or once with the first answer of a promise (a thenable may answer twice). */
function once (value: unknown, then: (value: unknown) => void, fail: (err: unknown) => void): void {
  if (!isThenable(value)) return then(value)
  let first = true
  const answer = (f: (v: unknown) => void) => (v: unknown) => {
    if (!first) return
    first = false
    f(v)
  }
  value.then(answer(then), answer(fail))
}

/** The refund failures and bad values already logged, per registration: each cause once a second. */
const throttles = new WeakMap<Runtime, LogThrottle>()

/** Logs why a charge was not settled; the request stays charged what it was. */
function failed (runtime: Runtime, log: FastifyRequest['log'], applied: Applied, err: unknown, what: string): void {
  let throttle = throttles.get(runtime)
  if (throttle === undefined) throttles.set(runtime, throttle = new LogThrottle(runtime.options.clock))
  const suppressed = throttle.admit(`${what}:${causeOf(err)}`)
  if (suppressed === undefined) return
  log.warn({ err, suppressed, rateLimit: { route: applied.limit.route } }, `fastify-limiter: ${what}; the request stays charged what it was`)
}
