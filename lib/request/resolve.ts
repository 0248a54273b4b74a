import type { FastifyRequest } from 'fastify'
import { kApplied } from '../core/symbols.js'
import type { Applied, CompiledKind, DynamicRates, ResolvedBucket } from '../core/types.js'
import { checkCost, identityOf, isThenable, resolverFailed } from './bucket.js'
import { FAILED, HTTP, NOT_LIMITED, RESOLVE_ONLY, UNDECIDED } from './flow.js'
import type { Flow } from './flow.js'
import { ipIdentity } from './identity.js'
import { encodePart } from './keys.js'
import { SLOT_TAIL } from './concurrency.js'

/**
 * Stage 1, resolve: who the request is counted as, in which buckets, at what cost. Each step
 * calls at most one function of the user, once per flow: exempt, key, the key's rates, user, the
 * user's rates, the IP's rates, cost. A synchronous function keeps the whole stage synchronous
 * (no promise, no closure); a promise (any thenable) is waited for once, and only its first
 * answer counts.
 */

const EXEMPT = 0
const KEY = 1
const KEY_RATE = 2
const USER = 3
const USER_RATE = 4
const IP = 5
const COST = 6
const RESOLVED = 7

/** The order in which the kinds count a request (the steps KEY, USER, IP). */
const KIND_ORDER = ['key', 'user', 'ip']

/** What a step without a function to call yields. */
const NONE = Symbol('none')

/**
 * Runs the steps from `flow.step` on. True when the flow goes on to decide (resolved, or ended
 * with an outcome); false while it waits for a promise, after which it resumes (`flow.resume()`).
 */
export function resolve (flow: Flow): boolean {
  if (flow.step === EXEMPT) {
    if (flow.mode === HTTP) {
      if (flow.limit.plain) return plain(flow)
    } else if (reuse(flow)) {
      flow.step = COST
    }
  }
  while (flow.step !== RESOLVED && flow.outcome === UNDECIDED) {
    let value: unknown
    try {
      value = call(flow)
    } catch (err) {
      failed(flow, err)
      continue
    }
    if (value !== NONE && isThenable(value)) {
      // a thenable that answered at once (inside its then()) lets the steps go on
      if (!wait(flow, value)) return false
      continue
    }
    accept(flow, value)
  }
  return true
}

/** A plain limit (CompiledLimit.plain) in the HTTP hook: the IP's bucket at the limit's cost, no step to run. */
function plain (flow: Flow): boolean {
  flow.addBucket({ kind: flow.limit.ip as CompiledKind, identity: ipOf(flow) })
  flow.cost = flow.limit.cost as number
  flow.step = RESOLVED
  kindsResolved(flow)
  return true
}

/**
 * The identity this request was counted as under the limit by an earlier decision (its hook):
 * `consume(request)` and `peek(request)` count it the same, without calling the functions again.
 */
function reuse (flow: Flow): boolean {
  // only a flow of a request comes here: a selector's flow starts at DECIDING
  const request = flow.request as FastifyRequest
  for (let a: Applied | null = request[kApplied]; a !== null; a = a.previous) {
    if (a.limit === flow.limit) flow.addBucket({ kind: a.kind, identity: a.identity })
  }
  // in the hook's order (key, user, IP), not the order they were recorded in (the deciding kind first): ties break alike
  flow.resolved.sort((x, y) => KIND_ORDER.indexOf(x.kind.kind) - KIND_ORDER.indexOf(y.kind.kind))
  return flow.resolved.length > 0
}

/** Calls the user function of the flow's step: NONE when the step has none to call. */
function call (flow: Flow): unknown {
  const { limit } = flow
  const request = flow.request as NonNullable<Flow['request']>
  switch (flow.step) {
    case EXEMPT:
      return limit.exempt === undefined || flow.mode === RESOLVE_ONLY ? NONE : limit.exempt(request)
    case KEY:
      return limit.keyFn === undefined ? NONE : limit.keyFn(request)
    case KEY_RATE:
    case USER_RATE:
      return flow.pending === undefined ? NONE : (ratesOf(flow) as Dynamic).dynamic.fn(request)
    case USER:
      return countsUser(flow) ? flow.engine.runtime.options.user(request) : NONE
    case IP:
      return limit.ip?.dynamic === undefined || !countsKind(flow) ? NONE : limit.ip.dynamic.fn(request)
    default:
      return flow.given !== undefined || typeof limit.cost === 'number' ? NONE : limit.cost(request)
  }
}

/** Acts on the value of the flow's step, then moves to the next step (or ends the flow). */
function accept (flow: Flow, value: unknown): void {
  const { limit } = flow
  try {
    switch (flow.step) {
      case EXEMPT:
        if (value !== NONE && value) flow.outcome = NOT_LIMITED
        break
      case KEY:
      case USER: {
        if (value === NONE) break
        const key = flow.step === KEY
        const id = identityOf(limit, key ? 'key' : 'user', value)
        if (id === undefined) break
        const identity = encodePart(id)
        if (key) flow.keyId = identity
        else flow.userId = identity
        const kind = key ? limit.key : limit.user
        // the user resolver may have been asked for the concurrency slot alone
        if (kind === undefined || !countsKind(flow)) break
        // a kind whose rates a function decides waits for them at the next step
        if (kind.dynamic === undefined) flow.addBucket({ kind, identity })
        else flow.pending = identity
        break
      }
      case KEY_RATE:
      case USER_RATE: {
        if (value === NONE) break
        const kind = (ratesOf(flow) as Dynamic).dynamic.compile(value)
        if (kind !== undefined) flow.addBucket({ kind, identity: flow.pending as string })
        flow.pending = undefined
        break
      }
      case IP:
        if (countsKind(flow) && limit.ip !== undefined) {
          const kind = limit.ip.dynamic === undefined ? limit.ip : limit.ip.dynamic.compile(value)
          if (kind !== undefined) flow.addBucket({ kind, identity: ipOf(flow) })
        }
        kindsResolved(flow)
        break
      default:
        try {
          flow.cost = value === NONE ? flow.given ?? limit.cost as number : checkCost(limit, value, maxCostOf(flow))
        } catch (err) {
          // counted at cost 1 first, so that a client cannot send uncountable requests at will
          flow.error = err as Error
        }
    }
  } catch (err) {
    flow.error = err as Error
    flow.outcome = FAILED
    return
  }
  flow.step++
}

/** A step's function threw or rejected: the flow fails, except for cost (counted at 1, then failed). */
function failed (flow: Flow, err: unknown): void {
  const what = ['exempt', 'key', 'key rate', 'user', 'user rate', 'ip rate', 'cost'][flow.step]
  flow.error = resolverFailed(flow.limit, what, err)
  if (flow.step === COST) flow.step++
  else flow.outcome = FAILED
}

/**
 * Waits for a function's promise; only its first answer counts (a thenable may call back twice).
 * True when it answered at once (inside its `then()`), false while the flow waits for it.
 */
function wait (flow: Flow, value: PromiseLike<unknown>): boolean {
  const wait = ++flow.waits
  const first = (): boolean => {
    if (flow.waits !== wait) return false
    flow.waits++
    return true
  }
  const resume = (): void => {
    if (!flow.running) flow.resume()
  }
  try {
    value.then((v) => {
      if (!first()) return
      accept(flow, v)
      resume()
    }, (err: unknown) => {
      if (!first()) return
      failed(flow, err)
      resume()
    })
  } catch (err) {
    // a thenable whose then() throws
    if (first()) failed(flow, err)
  }
  return flow.waits !== wait
}

/**
 * Every kind is known: the concurrency slot is picked, a kind an earlier limit already charged on
 * this request is dropped, and a request no kind and no slot counts is not limited.
 */
function kindsResolved (flow: Flow): void {
  const { limit, request } = flow
  const slots = limit.concurrency
  if (slots !== undefined && flow.mode === HTTP) {
    const found = slots.key !== undefined && flow.keyId !== undefined
      ? { kind: slots.key, id: flow.keyId }
      : slots.user !== undefined && flow.userId !== undefined
        ? { kind: slots.user, id: flow.userId }
        : slots.ip !== undefined ? { kind: slots.ip, id: ipOf(flow) } : undefined
    if (found !== undefined) flow.slot = { kind: found.kind, key: found.kind.head + found.id + SLOT_TAIL }
  }
  if (flow.mode === HTTP) {
    const req = request as NonNullable<Flow['request']>
    flow.engine.runtime.warnings.check(req, limit, flow.resolved)
    if (req[kApplied] !== null) flow.resolved = flow.resolved.filter((r) => !charged(req[kApplied], r))
  }
  if (flow.resolved.length === 0 && flow.slot === undefined) flow.outcome = NOT_LIMITED
}

/** The kind whose rates a function is deciding at this step: the key's or the user's. */
function ratesOf (flow: Flow): CompiledKind | undefined {
  return flow.step === KEY_RATE ? flow.limit.key : flow.limit.user
}

/** Whether the next kind counts the request: nothing counted it yet, or every kind does (`apply: 'all'`). */
function countsKind (flow: Flow): boolean {
  return flow.resolved.length === 0 || flow.limit.apply === 'all'
}

/** Whether the user resolver is asked: for the user's rates, or for a concurrency slot kept per user. */
function countsUser (flow: Flow): boolean {
  const { limit } = flow
  if (limit.user !== undefined && countsKind(flow)) return true
  const slots = limit.concurrency
  return flow.mode === HTTP && slots?.user !== undefined && (slots.key === undefined || flow.keyId === undefined)
}

/** The encoded identity of the request's IP bucket. */
function ipOf (flow: Flow): string {
  return encodePart(ipIdentity((flow.request as NonNullable<Flow['request']>).ip, flow.engine.runtime.options.ipv6Subnet))
}

/** The largest cost the request's buckets can allow: a rate function's rates count only once known. */
function maxCostOf (flow: Flow): number {
  const { limit, resolved } = flow
  if (!limit.dynamic) return limit.maxCost
  let max = limit.maxCost
  for (let i = 0; i < resolved.length; i++) max = Math.min(max, resolved[i].kind.maxCost)
  return max
}

/** Whether an earlier limit on this request charged the same bucket (the same group by a route and a hook()). */
function charged (applied: Applied | null, r: ResolvedBucket): boolean {
  for (let a = applied; a !== null; a = a.previous) {
    if (a.identity === r.identity && a.kind.head === r.kind.head && sameRates(a.kind, r.kind)) return true
  }
  return false
}

function sameRates (a: CompiledKind, b: CompiledKind): boolean {
  return a.rates.length === b.rates.length && a.rates.every((rate, i) => rate.tail === b.rates[i].tail)
}

/** A kind whose rates a function decides. */
type Dynamic = CompiledKind & { readonly dynamic: DynamicRates }
