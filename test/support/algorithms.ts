import fc from 'fast-check'
import type { Test } from 'tap'
import type { Algorithm, AlgorithmParams, AlgorithmResult, Decision } from '../../algorithms/index.js'
import type { BanRule } from '../../lib/core/algorithm.js'

/**
 * Shared machinery for the algorithm property tests: random scenarios, a store-like replay,
 * and the properties every algorithm must keep. A property returns an `fc.IProperty`, so a
 * test runs it with `fc.assert` and the mutation tests run it on a broken copy with `fc.check`.
 */

export interface Request {
  /** Milliseconds since the previous request (since `start` for the first). */
  dt: number
  cost: number
  /**
   * Charge `cost` whatever the bucket holds (`Algorithm.charge`: a settled cost) instead of
   * consuming it: the state moves on, but there is no decision, so `replay` makes no step of it.
   */
  charge?: boolean
}

export interface Scenario {
  params: AlgorithmParams
  /** Epoch ms of the first request's clock. */
  start: number
  requests: Request[]
}

export interface Step {
  now: number
  cost: number
  /** The state the store held before this request. */
  before: unknown
  /** The state the store holds after it: the result's state when allowed, `before` when denied. */
  after: unknown
  result: AlgorithmResult<unknown>
}

export interface ReplayOptions {
  /** Pass the state through JSON between requests, as SQLite and Redis do. Default true. */
  json?: boolean
  /** Forget the state once its `ttlMs` has passed, as stores do. Default true. */
  expire?: boolean
  /** Also store the state a denied request returns (the stores keep the old one). Default false. */
  keepDenied?: boolean
}

// a failing property shows the message of the check that failed, not only the counterexample
fc.configureGlobal({ includeErrorInReport: true })

/**
 * Runs a scenario the way a store does: one key, the state kept between requests. A step per
 * request consumed; a request charged (`charge: true`) only moves the state on.
 */
export function replay (algorithm: Algorithm<any>, scenario: Scenario, options: ReplayOptions = {}): Step[] {
  const { json = true, expire = true, keepDenied = false } = options
  const steps: Step[] = []
  let state: unknown
  let expiresAt = Infinity
  let now = scenario.start
  for (const { dt, cost, charge } of scenario.requests) {
    now += dt
    if (expire && now >= expiresAt) state = undefined
    if (charge === true) {
      const charged = algorithm.charge(json ? roundTrip(state) : state, now, cost, scenario.params)
      state = charged.state
      expiresAt = now + charged.ttlMs
      continue
    }
    const before = state
    const result = algorithm.consume(json ? roundTrip(state) : state, now, cost, scenario.params)
    if (result.decision.allowed || keepDenied) {
      state = result.state
      expiresAt = now + result.ttlMs
    }
    steps.push({ now, cost, before, result, after: state })
  }
  return steps
}

function roundTrip (state: unknown): unknown {
  return state === undefined ? undefined : JSON.parse(JSON.stringify(state))
}

/** Throws with `message` unless `condition` holds: fast-check reports the message and shrinks. */
export function expect (condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message)
}

/** The allowed requests of a replay, as `[now, cost]`. */
export function allowedOf (steps: Step[]): Array<[number, number]> {
  return steps.filter((s) => s.result.decision.allowed).map((s) => [s.now, s.cost])
}

// ---------------------------------------------------------------- arbitraries

const MAX = Number.MAX_SAFE_INTEGER

/** Ordinary rates: small enough that random traffic often hits the limit. */
export function paramsArb (algorithm: Algorithm<any>): fc.Arbitrary<AlgorithmParams> {
  return fc.record({
    limit: fc.integer({ min: 1, max: 12 }),
    windowMs: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 21, max: 5000 }), fc.constant(60_000))
  }).chain(({ limit, windowMs }) => burstArb(algorithm, limit, windowMs, 3 * limit))
}

/**
 * Rates at the edge of what the plugin accepts: `4 * L * W <= 2^53 - 1` and
 * `burst <= 1000 * L`, so a burst times W does not fit below 2^53.
 */
export function extremeParamsArb (algorithm: Algorithm<any>): fc.Arbitrary<AlgorithmParams> {
  return fc.integer({ min: 1, max: 86_400_000 }).chain((windowMs) => {
    const most = Math.floor(MAX / (4 * windowMs))
    return fc.integer({ min: Math.max(1, Math.floor(most / 2)), max: most })
      .chain((limit) => burstArb(algorithm, limit, windowMs, Math.min(1000 * limit, 2 ** 52)))
  })
}

function burstArb (algorithm: Algorithm<any>, limit: number, windowMs: number, most: number): fc.Arbitrary<AlgorithmParams> {
  if (!algorithm.usesBurst) return fc.constant({ limit, windowMs, burst: limit })
  return fc.oneof(fc.constant(limit), fc.integer({ min: 1, max: most }))
    .map((burst) => ({ limit, windowMs, burst }))
}

/** Epoch milliseconds around today, sometimes on a window boundary. */
const startArb = fc.oneof(
  fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }),
  fc.integer({ min: 17_000, max: 19_000 }).map((day) => day * 86_400_000)
)

/**
 * Request gaps mostly shorter than a window, with zeros (same millisecond) and boundaries;
 * with `jitter`, sometimes a clock behind the previous one (another process or server).
 */
export function requestArb ({ windowMs, burst }: AlgorithmParams, jitter: boolean): fc.Arbitrary<Request> {
  const small = Math.min(burst, 4)
  return fc.record({
    dt: fc.oneof(
      { weight: jitter ? 3 : 0, arbitrary: fc.integer({ min: -windowMs, max: -1 }) },
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) },
      { weight: 4, arbitrary: fc.integer({ min: 0, max: Math.ceil(windowMs / 4) }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * windowMs }) },
      { weight: 1, arbitrary: fc.constantFrom(windowMs - 1, windowMs, windowMs + 1) }
    ),
    cost: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 1, max: small }) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: burst }) },
      { weight: 1, arbitrary: fc.integer({ min: Math.ceil(burst / 2), max: burst }) }
    )
  })
}

export interface ScenarioOptions {
  /** Sometimes a clock behind the previous one. Default false. */
  jitter?: boolean
  /** The requests: `requestArb` by default (test/support/debt.ts mixes in charges). */
  request?: (params: AlgorithmParams, jitter: boolean) => fc.Arbitrary<Request>
}

export function scenarioArb (params: fc.Arbitrary<AlgorithmParams>, { jitter = false, request = requestArb }: ScenarioOptions = {}): fc.Arbitrary<Scenario> {
  return params.chain((p) => fc.record({
    params: fc.constant(p),
    start: startArb,
    requests: fc.array(request(p, jitter), { minLength: 1, maxLength: 40, size: 'max' })
  }))
}

/** Ordinary rates and traffic with clocks that only move forward. */
export const usual = (algorithm: Algorithm<any>): fc.Arbitrary<Scenario> => scenarioArb(paramsArb(algorithm))

type Property = fc.IPropertyWithHooks<[Scenario]>

// ---------------------------------------------------------------- properties every algorithm keeps

/** Numbers in states and decisions are safe integers (and never -0), so JSON and Lua keep them exactly. */
function isPlainJson (value: unknown): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value) && !Object.is(value, -0)
  if (typeof value === 'boolean') return true
  if (Array.isArray(value)) return value.every(isPlainJson)
  if (typeof value === 'object' && value !== null) return Object.values(value).every(isPlainJson)
  return false
}

/** Every decision is well formed: integers, remaining within `[0, burst]`, retry only when denied, ttl >= 1. */
export function wellFormed (algorithm: Algorithm<any>, scenarios = usual(algorithm)): Property {
  return fc.property(scenarios, (scenario) => {
    for (const { now, result: { state, decision, ttlMs } } of replay(algorithm, scenario)) {
      const { allowed, limit, remaining, resetMs, retryAfterMs } = decision
      expect(isPlainJson(state) && isPlainJson(decision) && isPlainJson(ttlMs), 'not safe integers')
      expect(limit === scenario.params.limit, `limit ${limit}`)
      expect(remaining >= 0 && remaining <= scenario.params.burst, `remaining ${remaining}`)
      expect(allowed ? retryAfterMs === 0 : retryAfterMs >= 1, `retryAfterMs ${retryAfterMs}`)
      expect(resetMs > now && resetMs >= now + retryAfterMs, `resetMs ${resetMs - now} from now`)
      expect(ttlMs >= 1 && ttlMs >= resetMs - now, `ttlMs ${ttlMs}`)
    }
  })
}

/** Two replays of the same scenario decide alike. */
function sameDecisions (a: Step[], b: Step[]): void {
  for (let i = 0; i < a.length; i++) {
    const x = JSON.stringify(a[i].result.decision)
    const y = JSON.stringify(b[i].result.decision)
    expect(x === y, `request ${i}: ${x} !== ${y}`)
  }
}

/**
 * A denied request consumes nothing: storing the state it returns, instead of keeping the
 * old one, changes no later decision.
 */
export function deniedConsumesNothing (algorithm: Algorithm<any>, scenarios = usual(algorithm)): Property {
  return fc.property(scenarios, (scenario) => {
    sameDecisions(replay(algorithm, scenario), replay(algorithm, scenario, { keepDenied: true }))
  })
}

/** Forgetting the state after `ttlMs` (as stores do) and passing it through JSON change no decision. */
export function ttlAndJsonAreSafe (algorithm: Algorithm<any>, scenarios = usual(algorithm)): Property {
  return fc.property(scenarios, (scenario) => {
    const stored = replay(algorithm, scenario)
    sameDecisions(stored, replay(algorithm, scenario, { json: false, expire: false }))
    for (const step of stored) {
      expect(JSON.stringify(roundTrip(step.after)) === JSON.stringify(step.after), 'state changes in JSON')
    }
  })
}

/**
 * `retryAfterMs` is exact: after a denial, the same request sent `retryAfterMs` later with no
 * other traffic is allowed, and 1 ms earlier it is still denied.
 */
export function retryIsExact (algorithm: Algorithm<any>, scenarios = usual(algorithm)): Property {
  return fc.property(scenarios, (scenario) => {
    for (const { now, cost, after, result: { decision } } of replay(algorithm, scenario)) {
      if (decision.allowed) continue
      const at = now + decision.retryAfterMs
      expect(algorithm.consume(after, at, cost, scenario.params).decision.allowed, `denied at +${decision.retryAfterMs}`)
      expect(!algorithm.consume(after, at - 1, cost, scenario.params).decision.allowed, `allowed at +${decision.retryAfterMs - 1}`)
    }
  })
}

/**
 * `resetMs` is exact: with no other traffic, the whole burst is free again at `resetMs`, and
 * 1 ms earlier it is not.
 */
export function resetIsExact (algorithm: Algorithm<any>, scenarios = usual(algorithm)): Property {
  return fc.property(scenarios, (scenario) => {
    const { burst } = scenario.params
    for (const { after, result: { decision } } of replay(algorithm, scenario)) {
      const full = algorithm.consume(after, decision.resetMs, burst, scenario.params).decision
      expect(full.allowed && full.remaining === 0, `burst not free at resetMs: ${JSON.stringify(full)}`)
      const early = algorithm.consume(after, decision.resetMs - 1, burst, scenario.params).decision
      expect(!early.allowed, 'burst already free 1 ms before resetMs')
    }
  })
}

/**
 * `remaining` is exact: at the same instant, a request costing `remaining` more is allowed
 * and one costing `remaining + 1` is not.
 */
export function remainingIsExact (algorithm: Algorithm<any>, scenarios = usual(algorithm)): Property {
  return fc.property(scenarios, (scenario) => {
    const { burst } = scenario.params
    for (const { now, after, result: { decision: { remaining } } } of replay(algorithm, scenario)) {
      if (remaining > 0) {
        expect(algorithm.consume(after, now, remaining, scenario.params).decision.allowed, `${remaining} more denied`)
      }
      if (remaining < burst) {
        expect(!algorithm.consume(after, now, remaining + 1, scenario.params).decision.allowed, `${remaining + 1} more allowed`)
      }
    }
  })
}

/** The properties above, by name, for the per-algorithm test files. */
export const commonProperties = {
  'decisions are well formed (remaining never negative, ttl >= 1, safe integers)': wellFormed,
  'a denied request consumes nothing': deniedConsumesNothing,
  'state survives JSON and may be forgotten after ttlMs': ttlAndJsonAreSafe,
  'retryAfterMs is exact to the millisecond': retryIsExact,
  'resetMs is exact to the millisecond': resetIsExact,
  'remaining is exact': remainingIsExact
}

/** Runs every property above against `algorithm`, one subtest each. */
export function testCommonProperties (t: Test, algorithm: Algorithm<any>): void {
  for (const [name, property] of Object.entries(commonProperties)) {
    t.test(name, async () => { fc.assert(property(algorithm)) })
  }
}

/**
 * The same properties when a clock is sometimes behind the one that wrote the state (several
 * processes on one SQLite file, several app servers with an injected clock): the algorithm
 * acts as if at the stored time, so every promise still holds.
 */
export function testClockBehind (t: Test, algorithm: Algorithm<any>): void {
  t.test('with clocks behind the stored state', async (t) => {
    const jittery = scenarioArb(paramsArb(algorithm), { jitter: true })
    for (const [name, property] of Object.entries(commonProperties)) {
      // Not this one: a denied request there may move the state's clock on, and a later, older
      // clock then sees less. Harmless, as the stores never write the state of a denial.
      if (property === deniedConsumesNothing) continue
      t.test(name, async () => { fc.assert(property(algorithm, jittery)) })
    }
  })
}

// ---------------------------------------------------------------- the windows

/** Allowed requests so far, as `[now, cost]`, oldest first. */
type History = Array<[number, number]>

/** Whether a request fits, by the algorithm's definition, given what was allowed before it. */
export type Fits = (allowed: History, now: number, cost: number, params: AlgorithmParams) => boolean

const sumWhere = (allowed: History, keep: (at: number) => boolean): bigint =>
  allowed.reduce((sum, [at, cost]) => keep(at) ? sum + BigInt(cost) : sum, 0n)

/** fixed-window: the cost already in the aligned window of `now`, plus this one, is at most L. */
export const fixedWindowFits: Fits = (allowed, now, cost, { limit, windowMs }) => {
  const w = Math.floor(now / windowMs)
  return sumWhere(allowed, (at) => Math.floor(at / windowMs) === w) + BigInt(cost) <= BigInt(limit)
}

/** sliding-window: Cloudflare's estimate `prev * (W - elapsed) / W + curr + cost <= L`. */
export const slidingWindowFits: Fits = (allowed, now, cost, { limit, windowMs }) => {
  const w = Math.floor(now / windowMs)
  const prev = sumWhere(allowed, (at) => Math.floor(at / windowMs) === w - 1)
  const curr = sumWhere(allowed, (at) => Math.floor(at / windowMs) === w)
  const W = BigInt(windowMs)
  return prev * (W - BigInt(now - w * windowMs)) + (curr + BigInt(cost)) * W <= BigInt(limit) * W
}

/** sliding-log: the cost allowed in `(now - W, now]`, plus this one, is at most L. */
export const slidingLogFits: Fits = (allowed, now, cost, { limit, windowMs }) =>
  sumWhere(allowed, (at) => at > now - windowMs) + BigInt(cost) <= BigInt(limit)

/** The algorithm allows a request exactly when `fits` says it fits: never more, never less. */
export function decidesBy (algorithm: Algorithm<any>, fits: Fits, scenarios = usual(algorithm)): Property {
  return fc.property(scenarios, (scenario) => {
    const allowed: History = []
    replay(algorithm, scenario).forEach(({ now, cost, result: { decision } }, i) => {
      expect(decision.allowed === fits(allowed, now, cost, scenario.params), `request ${i}: allowed is ${decision.allowed}`)
      if (decision.allowed) allowed.push([now, cost])
    })
  })
}

/**
 * Never more than L in the windows the algorithm promises, checked on the whole allowed
 * history: `check` throws when a window holds too much.
 */
export function neverOverLimit (
  algorithm: Algorithm<any>, check: (allowed: History, params: AlgorithmParams) => void, scenarios = usual(algorithm)
): Property {
  return fc.property(scenarios, (scenario) => {
    check(allowedOf(replay(algorithm, scenario)), scenario.params)
  })
}

/** Any interval `[a, a + W)` holds at most L; the fullest ones start at an allowed request. */
export function anyIntervalAtMostL (allowed: History, { limit, windowMs }: AlgorithmParams): void {
  for (const [start] of allowed) {
    const sum = sumWhere(allowed, (at) => at >= start && at < start + windowMs)
    expect(sum <= BigInt(limit), `${sum} in [${start}, ${start} + W)`)
  }
}

/** Every aligned window `[kW, (k + 1)W)` holds at most L. */
export function alignedWindowsAtMostL (allowed: History, { limit, windowMs }: AlgorithmParams): void {
  for (const [start] of allowed) {
    const w = Math.floor(start / windowMs)
    const sum = sumWhere(allowed, (at) => Math.floor(at / windowMs) === w)
    expect(sum <= BigInt(limit), `${sum} in window ${w}`)
  }
}

/** At every allowed request, Cloudflare's estimate with it included is at most L. */
export function estimateAtMostL (allowed: History, params: AlgorithmParams): void {
  allowed.forEach(([now, cost], i) => {
    expect(slidingWindowFits(allowed.slice(0, i), now, cost, params), `estimate over L at request ${i}`)
  })
}

/** The window properties, for fixed-window, sliding-window and sliding-log. */
export function testWindowProperties (
  t: Test, algorithm: Algorithm<any>, fits: Fits, promise: (allowed: History, params: AlgorithmParams) => void
): void {
  testCommonProperties(t, algorithm)
  t.test('never more than L in the windows it promises', async () => {
    fc.assert(neverOverLimit(algorithm, promise))
  })
  t.test('allows exactly what its definition allows', async () => {
    fc.assert(decidesBy(algorithm, fits))
  })
  t.test('exact at the largest rates the plugin accepts', async () => {
    const extreme = scenarioArb(extremeParamsArb(algorithm))
    fc.assert(decidesBy(algorithm, fits, extreme))
    testExtremes(algorithm, extreme)
  })
}

/** The common exactness properties at the largest rates. */
function testExtremes (algorithm: Algorithm<any>, extreme: fc.Arbitrary<Scenario>): void {
  fc.assert(wellFormed(algorithm, extreme))
  fc.assert(retryIsExact(algorithm, extreme))
  fc.assert(resetIsExact(algorithm, extreme))
  fc.assert(remainingIsExact(algorithm, extreme))
}

// ---------------------------------------------------------------- the buckets

/**
 * An exact token bucket on BigInt rationals, written from the definition: `burst` tokens at
 * the start, L more per W, capped at `burst`; allowed while tokens >= cost; a charge takes its
 * cost whatever the bucket holds (below 0 tokens: a debt) and decides nothing. Token bucket,
 * leaky bucket and GCRA must all decide exactly as it does, for any rate (and debts below
 * their bound, `maxDebt`).
 */
export function bucketReference ({ params, start, requests }: Scenario): Decision[] {
  const [L, W, B] = [BigInt(params.limit), BigInt(params.windowMs), BigInt(params.burst)]
  const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b
  const full = B * W
  let tokens = full // scaled by W
  let now = start
  const decisions: Decision[] = []
  for (const { dt, cost, charge } of requests) {
    now += dt
    tokens += BigInt(dt) * L
    if (tokens > full) tokens = full
    const need = BigInt(cost) * W
    // a charge takes its cost whatever the bucket holds: fewer than 0 tokens is a debt
    if (charge === true) {
      tokens -= need
      continue
    }
    const allowed = tokens >= need
    if (allowed) tokens -= need
    decisions.push({
      allowed,
      limit: params.limit,
      remaining: tokens > 0n ? Number(tokens / W) : 0,
      resetMs: now + Number(ceilDiv(full - tokens, L)),
      retryAfterMs: allowed ? 0 : Number(ceilDiv(need - tokens, L))
    })
  }
  return decisions
}

/** Every decision, field by field, equals the exact BigInt token bucket's. */
export function matchesBucketReference (algorithm: Algorithm<any>, scenarios = usual(algorithm)): Property {
  return fc.property(scenarios, (scenario) => {
    const expected = bucketReference(scenario)
    replay(algorithm, scenario).forEach(({ result: { decision } }, i) => {
      const [x, y] = [JSON.stringify(decision), JSON.stringify(expected[i])]
      expect(x === y, `request ${i}: ${x}, expected ${y}`)
    })
  })
}

/**
 * Never more than the burst plus what refilled: between any two allowed requests (both
 * included) at most `burst + (t2 - t1) * L / W` cost passed.
 */
export function burstPlusRefill (algorithm: Algorithm<any>, scenarios = usual(algorithm)): Property {
  return fc.property(scenarios, (scenario) => {
    const { limit, windowMs, burst } = scenario.params
    // with clocks that go back, refill is only promised for the latest clock seen
    let clock = -Infinity
    const allowed = replay(algorithm, scenario).flatMap(({ now, cost, result: { decision } }): History => {
      clock = Math.max(clock, now)
      return decision.allowed ? [[clock, cost]] : []
    })
    for (let i = 0; i < allowed.length; i++) {
      let sum = 0n
      for (let j = i; j < allowed.length; j++) {
        sum += BigInt(allowed[j][1])
        const refill = BigInt(allowed[j][0] - allowed[i][0]) * BigInt(limit)
        expect(sum * BigInt(windowMs) <= BigInt(burst) * BigInt(windowMs) + refill, `requests ${i}..${j} passed ${sum}`)
      }
    }
  })
}

/** The bucket properties, for token bucket, leaky bucket and GCRA. */
export function testBucketProperties (t: Test, algorithm: Algorithm<any>): void {
  testCommonProperties(t, algorithm)
  testClockBehind(t, algorithm)
  t.test('never more than burst + refill since any allowed request', async () => {
    fc.assert(burstPlusRefill(algorithm))
    fc.assert(burstPlusRefill(algorithm, scenarioArb(paramsArb(algorithm), { jitter: true })))
  })
  t.test('decides exactly as the BigInt token bucket', async () => {
    fc.assert(matchesBucketReference(algorithm))
  })
  t.test('exact at the largest rates and bursts the plugin accepts', async () => {
    const extreme = scenarioArb(extremeParamsArb(algorithm))
    fc.assert(matchesBucketReference(algorithm, extreme))
    testExtremes(algorithm, extreme)
  })
}

/**
 * A ban's rule (algorithms/ban.ts) with durations of 1 ms to `longestMs`: `max` at least `for`,
 * any backoff the option takes, with or without `extend`.
 */
export function banRuleArb (longestMs: number): fc.Arbitrary<BanRule> {
  return fc.record({
    after: fc.integer({ min: 1, max: 6 }),
    forMs: fc.integer({ min: 1, max: longestMs }),
    backoffMilli: fc.integer({ min: 1000, max: 100_000 }),
    maxMs: fc.integer({ min: 0, max: longestMs }),
    windowMs: fc.integer({ min: 1, max: longestMs }),
    extend: fc.boolean()
  }).map((r) => ({ ...r, maxMs: Math.max(r.forMs, r.maxMs) }))
}
