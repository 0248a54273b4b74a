import type { BanStrike, SlotGrant, StoreDecision } from '../core/store.js'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import { bucketsOf } from './bucket.js'
import { gateIndex, strikeRule, withGates } from './ban.js'
import { isEpochMs } from './clock.js'
import { granted, releaseSlot } from './concurrency.js'
import { BANNED, DECIDED, HTTP, LET_THROUGH, PEEK, SLOTTED, STARTED, STRUCK, UNAVAILABLE, UNCHECKED } from './flow.js'
import type { Flow } from './flow.js'

/**
 * Stage 2, decide: the clock, the concurrency slot, the delay line, the store's atomic consume
 * (through the one guarded call: deadline, breaker, fallback), a ban's strike, a wait instead of
 * a 429. Its result is `flow.answer` (the store's decision) and `flow.outcome`. Every store call
 * goes through `guard.run`; its answer comes back to `answered` below, synchronously for a
 * synchronous store (the loop goes on) or later (the engine resumes the flow).
 */

const CLOCK = 0
const SLOT = 1
const SLOT_SENT = 2
const LINE = 3
const STORE = 4
const STORE_SENT = 5
const ANSWERED = 6
const STRIKE = 7
const STRIKE_SENT = 8
const GATES_SENT = 9

/** True when the flow has an outcome; false while it waits (a store call, or in the delay line). */
export function decide (flow: Flow): boolean {
  while (flow.outcome === 0) {
    switch (flow.phase) {
      case CLOCK:
        readClock(flow)
        break
      case SLOT:
        askSlot(flow)
        if (waits(flow, SLOT_SENT)) return false
        break
      case LINE:
        if (!line(flow)) return false
        break
      case STORE:
        ask(flow)
        if (waits(flow, STORE_SENT)) return false
        break
      case ANSWERED:
        if (!weigh(flow)) return false
        break
      case STRIKE:
        strike(flow)
        if (waits(flow, STRIKE_SENT)) return false
        break
      default:
        // a call in flight (SLOT_SENT, STORE_SENT, STRIKE_SENT, GATES_SENT)
        return false
    }
  }
  return true
}

/** Whether the call sent at `phase` is still unanswered (a synchronous store answers inside the call). */
function waits (flow: Flow, phase: number): boolean {
  return flow.phase === phase && flow.outcome === 0
}

/** A store call of the flow answered. */
export function answered (flow: Flow, value: unknown): void {
  switch (flow.phase) {
    case SLOT_SENT:
      granted(flow, value as SlotGrant)
      if (flow.outcome === 0) flow.phase = LINE
      break
    case STORE_SENT:
      flow.answer = value as StoreDecision
      flow.phase = ANSWERED
      break
    case STRIKE_SENT:
      struck(flow, value as BanStrike)
      break
    default: {
      // GATES_SENT: a peek at a ban's gates alone, after a rate's denial (see weigh)
      const gated = value as StoreDecision
      if (!gated.allowed) {
        flow.answer = gated
        flow.ban = BANNED
        flow.bannedUntil = gated.now + gated.retryAfterMs
      }
      flow.outcome = DECIDED
    }
  }
}

/** A store call of the flow failed or timed out (counted and logged by the guard already). */
export function unanswered (flow: Flow): void {
  switch (flow.phase) {
    case SLOT_SENT:
      degradeSlot(flow)
      break
    case STORE_SENT:
      degrade(flow)
      break
    case STRIKE_SENT:
      unstruck(flow)
      break
    default:
      // GATES_SENT: the rate's denial stands
      flow.outcome = DECIDED
  }
}

/** Reads the plugin's clock, when it has one: a reading that is not epoch ms is a store error (the store cannot decide at it). */
function readClock (flow: Flow): void {
  const { runtime } = flow.engine
  const { clock } = runtime.options
  if (flow.buckets.length === 0 && flow.resolved.length > 0) {
    const { resolved, limit } = flow
    flow.buckets = resolved.length === 1 ? bucketsOf(resolved[0]) : resolved.flatMap(bucketsOf)
    flow.asked = limit.ban === undefined ? flow.buckets : withGates(resolved, flow.buckets)
  }
  flow.phase = flow.mode === HTTP && flow.slot !== undefined && flow.held === undefined ? SLOT : LINE
  if (clock === undefined) return
  let now: unknown
  try {
    now = clock()
  } catch (err) {
    now = err
  }
  if (isEpochMs(now)) {
    flow.now = now
    return
  }
  flow.now = Date.now()
  runtime.guard.failure(flow, 'consume', now instanceof Error ? now : new errors.INVALID_CLOCK(formatValue(now)), 'none')
  // nothing is asked of the store at a time that is not one: the rates are decided without it,
  // or, for a concurrency limit without rates, the slot is
  if (flow.resolved.length > 0) degrade(flow)
  else degradeSlot(flow)
}

/** Concurrency: a slot first, so that a request refused for it charges no rate. */
function askSlot (flow: Flow): void {
  const { guard, options } = flow.engine.runtime
  const slot = flow.slot as NonNullable<Flow['slot']>
  if (!guard.admit()) {
    degradeSlot(flow)
    return
  }
  flow.phase = SLOT_SENT
  guard.run(flow, 'acquire', slot.key, slot.kind.limit, options.leaseMs, flow.now)
}

/** The slot could not be asked for: decided by the limit's onStoreError, as a rate's consume is. */
function degradeSlot (flow: Flow): void {
  const { report, guard, options } = flow.engine.runtime
  const { limit } = flow
  report.degraded(limit)
  if (limit.onStoreError === 'fallback') {
    const slot = flow.slot as NonNullable<Flow['slot']>
    granted(flow, guard.fallback.acquire(slot.key, slot.kind.limit, options.leaseMs, flow.now), true)
    if (flow.outcome === 0) flow.phase = LINE
  } else if (limit.onStoreError === 'allow') {
    flow.phase = LINE
  } else {
    flow.outcome = UNAVAILABLE
  }
}

/** Delay: behind the waiting requests of the same identity, in arrival order. False: it waits in line. */
function line (flow: Flow): boolean {
  flow.phase = STORE
  if (flow.mode !== HTTP || flow.limit.delay === undefined || flow.waiter !== undefined) return true
  if (!flow.engine.runtime.delays.behind(flow)) return true
  // a waiting request is not in flight: holding its slot would starve its own client's slots
  releaseSlot(flow)
  return false
}

/** Asks the store (or the denial cache) to consume, or to peek. */
function ask (flow: Flow): void {
  const { limit } = flow
  if (flow.resolved.length === 0) {
    // a concurrency limit without rates: the slot was all there was to decide
    flow.outcome = SLOTTED
    return
  }
  const { denials, guard } = flow.engine.runtime
  if (denials !== undefined && !limit.dryRun && flow.mode !== PEEK) {
    const { buckets, cost, now } = flow
    const cacheKey = buckets.length === 1 ? buckets[0].key : buckets.map((b) => b.key).join('\n')
    const cached = denials.get(cacheKey, cost, now)
    if (cached !== undefined) {
      flow.answer = cached
      flow.phase = ANSWERED
      return
    }
    flow.cacheKey = cacheKey
  }
  if (!guard.admit()) {
    degrade(flow)
    return
  }
  flow.phase = STORE_SENT
  guard.run(flow, flow.mode === PEEK ? 'peek' : 'consume', flow.asked, flow.cost, flow.now)
}

/**
 * Decides without the store, by the limit's onStoreError: on the local memory store (which
 * decides, and so charges, at once), by letting the request through, or with a 503.
 */
function degrade (flow: Flow): void {
  const { report, guard } = flow.engine.runtime
  const { limit } = flow
  report.degraded(limit)
  flow.cacheKey = undefined
  if (limit.onStoreError === 'fallback') {
    flow.fallback = true
    const fallback = guard.fallback
    flow.answer = flow.mode === PEEK ? fallback.peek(flow.asked, flow.cost, flow.now) : fallback.consume(flow.asked, flow.cost, flow.now)
    flow.phase = ANSWERED
  } else {
    flow.outcome = limit.onStoreError === 'allow' ? LET_THROUGH : UNAVAILABLE
  }
}

/**
 * What the answer means: a ban's gate that denies is a ban; a denial may wait (`delay`), be
 * remembered (the denial cache) and count towards a ban (STRIKE): a rate's denial, and with
 * `ban.extend` a gate's too (it starts the ban again). False: the flow waits in the delay line,
 * to be decided again.
 */
function weigh (flow: Flow): boolean {
  const { limit } = flow
  const d = flow.answer as StoreDecision
  if (limit.ban !== undefined && !d.allowed && gateIndex(flow, d) >= 0) {
    flow.ban = BANNED
    flow.bannedUntil = d.now + d.retryAfterMs
  }
  const blocked = !d.allowed && !limit.dryRun
  if (flow.mode === PEEK) {
    if (limit.ban !== undefined && !d.allowed && flow.ban === UNCHECKED) {
      // a rate's denial may hide a longer ban, which the request would be answered with
      flow.phase = GATES_SENT
      flow.engine.runtime.guard.run(flow, 'peek', withGates(flow.resolved, []), 1, flow.now)
      return !waits(flow, GATES_SENT)
    }
    flow.outcome = DECIDED
    return true
  }
  const { delays, denials } = flow.engine.runtime
  if (blocked && flow.mode === HTTP && limit.delay !== undefined && flow.ban === UNCHECKED && delays.wait(flow, d.retryAfterMs)) {
    releaseSlot(flow)
    return false
  }
  if (blocked && flow.cacheKey !== undefined) {
    (denials as NonNullable<typeof denials>).set(flow.cacheKey, flow.cost, d, flow.now)
  }
  if (!d.allowed && limit.ban !== undefined && (flow.ban === UNCHECKED || limit.ban.extend)) {
    flow.phase = STRIKE
    return true
  }
  flow.outcome = DECIDED
  return true
}

/**
 * A denial counts towards a ban: one atomic strike, which says whether the identity is (now)
 * banned; a banned request's strike (`ban.extend`) starts the ban again.
 */
function strike (flow: Flow): void {
  const { guard } = flow.engine.runtime
  const { limit } = flow
  const { key, rule } = strikeRule(flow)
  flow.phase = STRIKE_SENT
  if (flow.fallback || !guard.admit()) {
    // the store is out of the way: the local fallback counts, as it decides, or nobody does
    if (limit.onStoreError !== 'fallback') {
      unstruck(flow)
      return
    }
    struck(flow, guard.fallback.strike(key, rule, flow.now))
    return
  }
  guard.run(flow, 'strike', key, rule, flow.now)
}

/**
 * The strike's answer: banned until its end, or only counted. A banned request whose strike
 * finds the ban over (it ended between the gate and the strike) stays banned until the end its
 * gate said: the gate denied it.
 */
function struck (flow: Flow, strike: BanStrike): void {
  const now = (flow.answer as StoreDecision).now
  if (strike.until > now) {
    flow.ban = strike.started ? STARTED : BANNED
    flow.bannedUntil = strike.until
  } else if (flow.ban === UNCHECKED) {
    flow.ban = STRUCK
  }
  flow.outcome = DECIDED
}

/**
 * No strike was made (the store failed, or is out of the way): a rate's denial stays an
 * ordinary 429, as a strike that failed starts no ban; a banned request stays banned until the
 * end its gate said, as a restart that failed lengthens nothing.
 */
function unstruck (flow: Flow): void {
  if (flow.ban === UNCHECKED) flow.ban = STRUCK
  flow.outcome = DECIDED
}
