/**
 * A reference model of the plugin's decisions, for the model-based test (test/plugin/model.test.ts).
 * It keeps, per bucket, the list of charges `[time, cost]`, and decides from the definitions in
 * DESIGN.md and docs/ (api.md, recipes.md, concurrency.md, bans.md, responses.md, algorithms.md),
 * not from the engine's code: one function per thing a request, `peek`, `consume`, `settle` or
 * `reset` does, in the order the docs give.
 *
 * Covered, exactly (every status, and `request.rateLimit` field by field: allowed, limit,
 * remaining, resetMs, retryAfterMs, bucket, rate, banned, dryRun, delayedMs, inFlight):
 * - which bucket kinds count a request: key, else user, else IP (`apply: 'first'`), or every kind
 *   whose identity resolves (`apply: 'all'`); an empty identity is none;
 * - several windows per kind, all-or-nothing (a denial charges nothing); the decision describes
 *   the most restrictive bucket: a denial with the longest wait, else the fewest units left, the
 *   first in order on a tie (key, user, IP; each kind's rates as declared; ban gates first);
 * - cost (a number, or a function whose value is checked: an uncountable request is counted at 1,
 *   then fails with a 500);
 * - `count` refunds and `settle` (the charge replaced by the settled cost: more is charged past the
 *   limit as debt, less is refunded, newest units first, never below empty), once, from the
 *   response's end or from `fastify.rateLimit.settle()` in the handler;
 * - `reset` (by selector or request: buckets, bans and concurrency slots forgotten; a refund or
 *   settlement of an earlier charge gives nothing back) and `clear()`;
 * - bans: after `after` denials of one identity within one window of the rate that denied, banned
 *   for `for` (times `backoff` per ban since it was last forgiven, up to `max`); a gate that denies
 *   while banned, before the rates are charged;
 * - concurrency slots, taken before the rates and held until the response ends;
 * - `delay`: a denial whose wait is at most `maxMs` waits, and is decided again (the test moves the
 *   clock by the wait while the request waits, so it then passes);
 * - dry run: never blocks, charges only what is allowed, counts strikes, keeps its slot;
 * - `peek` (request or selector: nothing charged) and `consume` (request or selector: charged like
 *   a request, without slot or wait);
 * - on SQLite and Redis, the denial cache (docs/failure-modes.md): a denial is remembered until its
 *   `retryAfterMs` and answers the same buckets at the same or a higher cost. It also expires on
 *   the real monotonic clock, which the test does not control: every lookup that would hit asks
 *   `choose()` whether it expired, and the test keeps each answer the plugin could give.
 *
 * Not covered, and why:
 * - only `fixed-window` and `sliding-log`: their state is literally a sum of charges per window or
 *   per W ms, so the model needs no algorithm of its own; the other four have per-algorithm
 *   property tests (test/algorithms) and their refunds and debt are not sums of charges;
 * - rate functions, `exempt`, groups, `global`, `hook()` limits, several routes and
 *   registrations: resolution details that test/plugin covers case by case;
 * - store failures (`onStoreError`, the breaker, the fallback store): test/plugin/store-failures
 *   and the Redis fault tests;
 * - the delay line's order (the test sends one request at a time, so no request waits behind
 *   another) and a second wait after a first (its deadline is on the real clock);
 * - headers (test/plugin/headers and header-values), which render the same decision.
 */

import type { Decision as Verdict } from '../../lib/core/algorithm.js'
import type { BucketKind, RateLimitDecision } from '../../index.js'

export type Kind = BucketKind

/** The order in which kinds count a request, and in which a decision's ties are broken. */
export const KINDS: readonly Kind[] = ['key', 'user', 'ip']

export interface Rate {
  /** As declared, `'3/2s'`: what the decision's `rate` says. */
  readonly text: string
  readonly limit: number
  readonly windowMs: number
}

/** One route's `config.rateLimit`, as the model reads it. */
export interface Limit {
  readonly algorithm: 'fixed-window' | 'sliding-log'
  readonly rates: { readonly [K in Kind]?: readonly Rate[] }
  /** The route has a `key` function (for its rates, or only for `concurrency.key`). */
  readonly keyFn: boolean
  readonly apply: 'first' | 'all'
  /** A number, or a function returning the request's `cost` (checked at each request). */
  readonly cost: number | 'function'
  readonly count: 'all' | 'failed' | 'successful' | 'function'
  /** A `settle` function, returning the request's `settleTo`. */
  readonly settle: boolean
  readonly ban?: { readonly after: number, readonly forMs: number, readonly backoff: number, readonly maxMs: number, readonly statusCode: number }
  readonly concurrency?: { readonly [K in Kind]?: number }
  readonly delayMaxMs?: number
  readonly dryRun: boolean
  /** SQLite and Redis: denials are remembered on the app server (the memory store has no cache). */
  readonly denialCache: boolean
}

/** What the client sends: its IP, the values its user and key resolvers return, its cost function's value. */
export interface Arrival {
  readonly id: number
  readonly ip: string
  readonly user?: string
  readonly key?: string
  readonly cost: number
}

/** How the handler ends a request that reached it. */
export interface Ending {
  readonly status: number
  /** What the count function returns (`false` refunds). */
  readonly counts: boolean
  /** What the settle function returns. */
  readonly settleTo: number
}

/** What the handler does before it answers (`fastify.rateLimit` on its request). */
export type Action =
  | { readonly do: 'none' }
  | { readonly do: 'settle', readonly cost: number }
  | { readonly do: 'consume', readonly cost: number }
  | { readonly do: 'peek' }
  | { readonly do: 'reset' }

/** `request.rateLimit`, and what `peek` and `consume` resolve to. */
export type Decision = RateLimitDecision

/** Who is counted: a bucket kind and an identity. */
type Who = [Kind, string]

/** One ban state: per identity (kind and identity) of the route. */
interface Ban {
  until: number
  /** Bans since the identity was last forgiven. */
  level: number
  forgiveAt: number
  /** Denials counted since `since`, toward the next ban. */
  strikes: number
  since: number
}

/** A request that passed the hook: what its response's end settles and gives back. */
interface Passed {
  who: Who[]
  /** Its charge, while it may still be settled. */
  charge?: { entries: Entry[], cost: number, generation: number }
  slot?: string
  /** Its cost function's value was not a cost: charged at 1, answered with a 500. */
  costError: boolean
}

export interface State {
  /** Bucket id (`kind|identity|rate index`) to its charges, oldest first. */
  buckets: Record<string, Array<[number, number]>>
  bans: Record<string, Ban>
  /** Slot id (`kind|identity`) to the requests holding one. */
  slots: Record<string, number[]>
  /** The denial cache: the request's bucket ids, in order, to the denial. */
  cache: Record<string, { until: number, cost: number, limit: number, remaining: number, resetMs: number, entry: number }>
  /** Resets: one generation per reset or clear; a charge made before its bucket's reset is never settled. */
  generation: number
  clearedAt: number
  resetAt: Record<string, number>
  passed: Record<number, Passed>
}

export function newState (): State {
  return { buckets: {}, bans: {}, slots: {}, cache: {}, generation: 0, clearedAt: 0, resetAt: {}, passed: {} }
}

/** Asked at each denial-cache hit: true when the real clock has expired it (the store then decides). */
export type Choose = () => boolean

/** A request that waits (`delay`) longer than the test moved the clock: the model cannot say when it is decided. */
export class Waits extends Error {
  constructor (readonly ms: number) {
    super(`the request waits ${ms} ms`)
  }
}

// ---------------------------------------------------------------- one bucket

const bucketId = (kind: Kind, identity: string, rate: number): string => `${kind}|${identity}|${rate}`
const whoId = ([kind, identity]: Who): string => `${kind}|${identity}`

/** The charges that count at `now`: those of the current aligned window, or of the last W ms. */
function live (limit: Limit, rate: Rate, charges: Array<[number, number]>, now: number): Array<[number, number]> {
  const W = rate.windowMs
  return limit.algorithm === 'fixed-window'
    ? charges.filter(([t]) => Math.floor(t / W) === Math.floor(now / W))
    : charges.filter(([t]) => t > now - W)
}

/** A rate's decision on a request of `cost` at `now`, from its definition. */
function verdict (limit: Limit, rate: Rate, all: Array<[number, number]>, cost: number, now: number): Verdict {
  const charges = live(limit, rate, all, now)
  const used = charges.reduce((sum, [, c]) => sum + c, 0)
  const allowed = used + cost <= rate.limit
  const remaining = allowed ? rate.limit - used - cost : Math.max(0, rate.limit - used)
  const W = rate.windowMs
  if (limit.algorithm === 'fixed-window') {
    // the next window is empty, and its start is when the request fits
    const end = (Math.floor(now / W) + 1) * W
    return { allowed, limit: rate.limit, remaining, resetMs: end, retryAfterMs: allowed ? 0 : end - now }
  }
  // the log is empty W after its newest charge; the request fits once enough of the oldest have left
  const newest = allowed ? now : charges[charges.length - 1][0]
  let retryAfterMs = 0
  if (!allowed) {
    let freed = 0
    for (const [t, c] of charges) {
      freed += c
      if (freed >= used + cost - rate.limit) {
        retryAfterMs = t + W - now
        break
      }
    }
  }
  return { allowed, limit: rate.limit, remaining, resetMs: newest + W, retryAfterMs }
}

/** Gives `cost` back at `now`, newest charges first, never below empty. */
function refund (limit: Limit, rate: Rate, all: Array<[number, number]>, cost: number, now: number): Array<[number, number]> {
  const charges = live(limit, rate, all, now).map(([t, c]): [number, number] => [t, c])
  let owed = cost
  for (let i = charges.length - 1; i >= 0 && owed > 0; i--) {
    const taken = Math.min(charges[i][1], owed)
    charges[i][1] -= taken
    owed -= taken
  }
  return charges.filter(([, c]) => c > 0)
}

// ---------------------------------------------------------------- a request's buckets

/** A ban's gate (`rate` undefined) or a rate of an identity: what the store decides on, in order. */
interface Entry {
  readonly who: Who
  readonly rate?: number
}

function rateOf (limit: Limit, entry: Entry): Rate {
  return (limit.rates[entry.who[0]] as readonly Rate[])[entry.rate ?? 0]
}

function rateEntries (limit: Limit, who: Who[]): Entry[] {
  return who.flatMap((w) => (limit.rates[w[0]] as readonly Rate[]).map((_, rate) => ({ who: w, rate })))
}

const entryId = (entry: Entry): string => bucketId(entry.who[0], entry.who[1], entry.rate as number)

/** The gate denies while the identity is banned; when it allows it is never the most restrictive. */
function gate (state: State, limit: Limit, who: Who, now: number): Verdict {
  const ban = state.bans[whoId(who)]
  const first = rateOf(limit, { who })
  if (ban !== undefined && now < ban.until) {
    return { allowed: false, limit: first.limit, remaining: 0, resetMs: ban.until, retryAfterMs: ban.until - now }
  }
  return { allowed: true, limit: first.limit, remaining: Number.MAX_SAFE_INTEGER, resetMs: now, retryAfterMs: 0 }
}

function verdictOf (state: State, limit: Limit, entry: Entry, cost: number, now: number): Verdict {
  if (entry.rate === undefined) return gate(state, limit, entry.who, now)
  return verdict(limit, rateOf(limit, entry), state.buckets[entryId(entry)] ?? [], cost, now)
}

/** The index of the most restrictive verdict: a denial with the longest wait, else the fewest left; the first on a tie. */
function mostRestrictive (verdicts: Verdict[]): number {
  let best = 0
  for (let i = 1; i < verdicts.length; i++) {
    const a = verdicts[i]
    const b = verdicts[best]
    if (a.allowed !== b.allowed ? !a.allowed : a.allowed ? a.remaining < b.remaining : a.retryAfterMs > b.retryAfterMs) best = i
  }
  return best
}

/** The buckets asked: one ban gate per identity first (on a route with a ban), then every rate. */
function entriesOf (limit: Limit, who: Who[]): Entry[] {
  const gates: Entry[] = limit.ban === undefined ? [] : who.map((w) => ({ who: w }))
  return [...gates, ...rateEntries(limit, who)]
}

function decisionOf (limit: Limit, entry: Entry, v: Verdict): Decision {
  const d: Decision = { allowed: v.allowed, limit: v.limit, remaining: v.remaining, resetMs: v.resetMs, retryAfterMs: v.retryAfterMs, bucket: entry.who[0], rate: rateOf(limit, entry).text }
  if (!v.allowed && limit.dryRun) d.dryRun = true
  return d
}

/** Answered as banned until `until`: nothing left, and the wait is the ban's. */
function banned (d: Decision, until: number, now: number): Decision {
  return { ...d, banned: true, remaining: 0, retryAfterMs: until - now, resetMs: until }
}

// ---------------------------------------------------------------- bans

/**
 * Counts one denial of `who` by a rate of window `windowMs` (docs/bans.md): nothing while banned;
 * a level is forgiven once the identity stayed clean as long as its last ban lasted; denials
 * more than a window after the first of a series start a new series; the `after`-th starts a ban.
 */
function strike (state: State, limit: Limit, who: Who, windowMs: number, now: number): { until: number, started: boolean } {
  const rule = limit.ban as NonNullable<Limit['ban']>
  const id = whoId(who)
  const ban = state.bans[id] ?? { until: 0, level: 0, forgiveAt: 0, strikes: 0, since: 0 }
  if (now < ban.until) return { until: ban.until, started: false }
  if (now >= ban.forgiveAt) ban.level = 0
  if (ban.strikes === 0 || now - ban.since >= windowMs) {
    ban.strikes = 1
    ban.since = now
  } else {
    ban.strikes++
  }
  let started = false
  if (ban.strikes >= rule.after) {
    const length = Math.min(rule.maxMs, rule.forMs * rule.backoff ** ban.level)
    ban.until = now + length
    ban.forgiveAt = ban.until + length
    ban.level++
    ban.strikes = 0
    ban.since = now
    started = true
  }
  state.bans[id] = ban
  return { until: ban.until, started }
}

// ---------------------------------------------------------------- deciding

/** What deciding the rates gave: a decision (charged when allowed), or a wait (`delay`). */
type Decided = { decision: Decision, blocked: boolean } | { wait: number }

/**
 * The store's atomic consume of a request's buckets (or the denial cache), then what a denial
 * means: a ban's gate, a wait, a remembered denial, a strike. `canWait`: a request in the HTTP
 * hook, deciding for the first time.
 */
function consumeRates (state: State, limit: Limit, who: Who[], cost: number, now: number, choose: Choose, canWait: boolean): Decided {
  const entries = entriesOf(limit, who)
  const cacheKey = rateEntries(limit, who).map(entryId).join('\n')
  const useCache = limit.denialCache && !limit.dryRun
  let index = -1
  let v: Verdict | undefined
  let fromCache = false
  const cached = useCache ? state.cache[cacheKey] : undefined
  if (cached !== undefined && cached.until <= now) {
    delete state.cache[cacheKey]
  } else if (cached !== undefined && cost >= cached.cost) {
    if (choose()) {
      // expired on the real clock: the store decides
      delete state.cache[cacheKey]
    } else {
      index = cached.entry
      v = { allowed: false, limit: cached.limit, remaining: cached.remaining, resetMs: cached.resetMs, retryAfterMs: cached.until - now }
      fromCache = true
    }
  }
  if (v === undefined) {
    const verdicts = entries.map((e) => verdictOf(state, limit, e, cost, now))
    index = mostRestrictive(verdicts)
    v = verdicts[index]
    if (v.allowed) {
      for (const e of rateEntries(limit, who)) (state.buckets[entryId(e)] ??= []).push([now, cost])
    }
  }
  const entry = entries[index]
  const blocked = !v.allowed && !limit.dryRun
  // a gate that denies: banned until it opens
  let bannedUntil = !v.allowed && entry.rate === undefined ? now + v.retryAfterMs : undefined
  if (blocked && canWait && bannedUntil === undefined && limit.delayMaxMs !== undefined && v.retryAfterMs <= limit.delayMaxMs) return { wait: v.retryAfterMs }
  if (blocked && useCache && !fromCache) {
    state.cache[cacheKey] = { until: now + v.retryAfterMs, cost, limit: v.limit, remaining: v.remaining, resetMs: v.resetMs, entry: index }
  }
  if (!v.allowed && limit.ban !== undefined && bannedUntil === undefined) {
    // a rate's denial strikes the identity whose rate denied
    const struck = strike(state, limit, entry.who, rateOf(limit, entry).windowMs, now)
    if (struck.until > now) bannedUntil = struck.until
  }
  const decision = decisionOf(limit, entry, v)
  return { decision: bannedUntil === undefined ? decision : banned(decision, bannedUntil, now), blocked }
}

/** `peek`: what consume would decide, nothing written; a rate's denial may hide a ban, which it reports. */
function peekRates (state: State, limit: Limit, who: Who[], cost: number, now: number): Decision {
  const entries = entriesOf(limit, who)
  const verdicts = entries.map((e) => verdictOf(state, limit, e, cost, now))
  const index = mostRestrictive(verdicts)
  const v = verdicts[index]
  const decision = decisionOf(limit, entries[index], v)
  if (v.allowed || limit.ban === undefined) return decision
  const gates = entries.filter((e) => e.rate === undefined)
  const gated = gates.map((e) => verdictOf(state, limit, e, 1, now))
  const g = mostRestrictive(gated)
  if (gated[g].allowed) return decision
  return banned(decisionOf(limit, gates[g], gated[g]), now + gated[g].retryAfterMs, now)
}

// ---------------------------------------------------------------- a request in the hook

/** The identities of a request's kinds that count it, and its concurrency slot. */
function resolve (limit: Limit, a: Arrival): { who: Who[], slot?: { id: string, of: number, kind: Kind } } {
  const ids: Record<Kind, string | undefined> = {
    key: limit.keyFn && a.key !== '' ? a.key : undefined,
    user: a.user === '' ? undefined : a.user,
    ip: a.ip
  }
  const who: Who[] = []
  for (const kind of KINDS) {
    const identity = ids[kind]
    if (limit.rates[kind] !== undefined && identity !== undefined && (who.length === 0 || limit.apply === 'all')) who.push([kind, identity])
  }
  const slots = limit.concurrency ?? {}
  const kind = KINDS.find((k) => slots[k] !== undefined && ids[k] !== undefined)
  if (kind === undefined) return { who }
  return { who, slot: { id: whoId([kind, ids[kind] as string]), of: slots[kind] as number, kind } }
}

const maxCost = (limit: Limit): number => Math.min(...KINDS.flatMap((k) => (limit.rates[k] ?? []).map((r) => r.limit)))

export interface Arrived {
  /** 'handler': the request goes on to its handler; else the status it is answered with. */
  status: number | 'handler'
  decision?: Decision
}

/**
 * A request in the hook, decided at `t0`. A request that waits (`delay`) is decided again at `t1`,
 * which must be at least its wait later (else `Waits` is thrown: the test then moves the clock
 * by that much while it waits).
 */
export function arrive (state: State, limit: Limit, a: Arrival, t0: number, t1: number, choose: Choose): Arrived {
  const { who, slot } = resolve(limit, a)
  if (who.length === 0 && slot === undefined) {
    state.passed[a.id] = { who, costError: false }
    return { status: 'handler' }
  }
  const valid = limit.cost !== 'function' || (Number.isInteger(a.cost) && a.cost >= 1 && a.cost <= maxCost(limit))
  const cost = typeof limit.cost === 'number' ? limit.cost : valid ? a.cost : 1
  let now = t0
  let waited = false
  for (;;) {
    let held: string | undefined
    if (slot !== undefined) {
      const holders = state.slots[slot.id] ?? []
      if (holders.length < slot.of) {
        holders.push(a.id)
        state.slots[slot.id] = holders
        held = slot.id
      } else if (!limit.dryRun) {
        // taken before the rates: a request refused here charges nothing
        return { status: 429, decision: { allowed: false, limit: slot.of, remaining: 0, resetMs: now + 1000, retryAfterMs: 1000, bucket: slot.kind, rate: `${slot.of} in flight`, inFlight: slot.of } }
      }
    }
    if (who.length === 0) {
      state.passed[a.id] = { who, slot: held, costError: !valid }
      return { status: valid ? 'handler' : 500 }
    }
    const decided = consumeRates(state, limit, who, cost, now, choose, !waited)
    if ('wait' in decided) {
      // a waiting request holds no slot
      if (held !== undefined) release(state, held, a.id)
      if (t1 < now + decided.wait) throw new Waits(decided.wait)
      waited = true
      now = t1
      continue
    }
    const { decision, blocked } = decided
    if (waited && decision.allowed) decision.delayedMs = now - t0
    if (blocked) {
      if (held !== undefined) release(state, held, a.id)
      return { status: decision.banned === true ? (limit.ban as NonNullable<Limit['ban']>).statusCode : 429, decision }
    }
    const charge = decision.allowed && valid ? { entries: rateEntries(limit, who), cost, generation: state.generation } : undefined
    state.passed[a.id] = { who, charge, slot: held, costError: !valid }
    return { status: valid ? 'handler' : 500, decision }
  }
}

function release (state: State, slot: string, id: number): void {
  // a slot reset meanwhile is gone: nothing to give back
  const holders = state.slots[slot]
  if (holders !== undefined && holders.includes(id)) holders.splice(holders.indexOf(id), 1)
}

/**
 * The request `id` that went on to its handler ends at `now`: its handler's action, then its
 * response's end (count refunds, the settle function, its slot given back). Returns the action's
 * result: settle's boolean, consume's and peek's decision (null for none).
 */
export function end (state: State, limit: Limit, id: number, a: Arrival, ending: Ending, action: Action, now: number, choose: Choose): boolean | Decision | null | undefined {
  const p = state.passed[id]
  delete state.passed[id]
  let result: boolean | Decision | null | undefined
  if (!p.costError) result = act(state, limit, p, a, action, now, choose)
  if (p.slot !== undefined) release(state, p.slot, id)
  if (p.charge === undefined) return result
  const { status, counts, settleTo } = ending
  const refunded = limit.count === 'failed'
    ? status < 400
    : limit.count === 'successful' ? status >= 400 : limit.count === 'function' && !counts
  if (refunded) settle(state, limit, p, 0, now)
  else if (limit.settle) settle(state, limit, p, settleTo, now)
  return result
}

function act (state: State, limit: Limit, p: Passed, a: Arrival, action: Action, now: number, choose: Choose): boolean | Decision | null | undefined {
  switch (action.do) {
    case 'settle':
      return p.charge !== undefined && settle(state, limit, p, action.cost, now)
    case 'consume':
      // counted as the hook counted it
      return p.who.length === 0 ? null : (consumeRates(state, limit, p.who, action.cost, now, choose, false) as { decision: Decision }).decision
    case 'peek':
      return p.who.length === 0 ? null : peekRates(state, limit, p.who, typeof limit.cost === 'number' ? limit.cost : a.cost, now)
    case 'reset':
      forget(state, limit, p.who, p.slot === undefined ? [] : [p.slot])
      return undefined
    default:
      return undefined
  }
}

/** The request's charge becomes `cost`, once: the difference charged (even past the limit) or refunded. True when settled. */
function settle (state: State, limit: Limit, p: Passed, cost: number, now: number): boolean {
  const charge = p.charge as NonNullable<Passed['charge']>
  p.charge = undefined
  // the buckets it was charged to were forgotten: nothing to settle
  const ids = charge.entries.map(entryId)
  if (state.clearedAt > charge.generation || ids.some((id) => (state.resetAt[id] ?? 0) > charge.generation)) return false
  const delta = cost - charge.cost
  charge.entries.forEach((entry, i) => {
    const charges = state.buckets[ids[i]] ?? []
    if (delta > 0) state.buckets[ids[i]] = [...charges, [now, delta]]
    if (delta < 0) state.buckets[ids[i]] = refund(limit, rateOf(limit, entry), charges, -delta, now)
  })
  return true
}

// ---------------------------------------------------------------- fastify.rateLimit, by selector

export type Selector = { readonly [K in Kind]?: string }

/** The given identities whose kind has rates, in order. */
function selected (limit: Limit, selector: Selector): Who[] {
  return KINDS.filter((k) => limit.rates[k] !== undefined && selector[k] !== undefined).map((k): Who => [k, selector[k] as string])
}

/** `peek({ route, ... })`: every identity given decides together, at cost 1. */
export function peek (state: State, limit: Limit, selector: Selector, now: number): Decision | null {
  const who = selected(limit, selector)
  return who.length === 0 ? null : peekRates(state, limit, who, 1, now)
}

/** `consume({ route, ... }, { cost })`: the identities given, as the hook picks them; a cost function's limit charges 1 unless given. */
export function consume (state: State, limit: Limit, selector: Selector, cost: number | undefined, now: number, choose: Choose): Decision | null {
  const all = selected(limit, selector)
  const who = limit.apply === 'all' ? all : all.slice(0, 1)
  if (who.length === 0) return null
  const charged = cost ?? (typeof limit.cost === 'number' ? limit.cost : 1)
  return (consumeRates(state, limit, who, charged, now, choose, false) as { decision: Decision }).decision
}

/** `reset({ route, ... })`: the identities' buckets, bans and slots. */
export function reset (state: State, limit: Limit, selector: Selector): void {
  const kinds = KINDS.filter((k) => selector[k] !== undefined)
  const slots = kinds.filter((k) => limit.concurrency?.[k] !== undefined).map((k) => whoId([k, selector[k] as string]))
  forget(state, limit, selected(limit, selector), slots)
}

/** Forgets identities' buckets and bans, and slots; every remembered denial; earlier charges of these buckets are never settled. */
function forget (state: State, limit: Limit, who: Who[], slots: string[]): void {
  state.generation++
  state.cache = {}
  for (const w of who) {
    delete state.bans[whoId(w)]
    if (limit.concurrency?.[w[0]] !== undefined) delete state.slots[whoId(w)]
  }
  for (const entry of rateEntries(limit, who)) {
    delete state.buckets[entryId(entry)]
    state.resetAt[entryId(entry)] = state.generation
  }
  for (const slot of slots) delete state.slots[slot]
}

/** `clear()`: everything, and no earlier charge is settled. */
export function clear (state: State): void {
  state.generation++
  state.clearedAt = state.generation
  state.buckets = {}
  state.bans = {}
  state.slots = {}
  state.cache = {}
}
