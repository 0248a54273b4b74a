// The pure ban steps (algorithms/ban.ts), property-tested as the algorithms are: on random
// strike sequences, the rules of the `ban` option hold.
import t from 'tap'
import fc from 'fast-check'
import { banDuration, banGate, banGateAlgorithm, banStrike } from '../../algorithms/ban.js'
import { parseDuration } from '../../lib/config/rate.js'
import type { BanState } from '../../algorithms/ban.js'
import type { BanRule } from '../../lib/core/algorithm.js'

const ruleArb: fc.Arbitrary<BanRule> = fc.record({
  after: fc.integer({ min: 1, max: 6 }),
  forMs: fc.integer({ min: 1, max: 100_000 }),
  backoffMilli: fc.integer({ min: 1000, max: 100_000 }),
  maxMs: fc.integer({ min: 0, max: 1_000_000 }),
  windowMs: fc.integer({ min: 1, max: 200_000 })
}).map((r) => ({ ...r, maxMs: r.forMs + r.maxMs }))

const stepsArb = fc.array(fc.integer({ min: 0, max: 300_000 }), { minLength: 1, maxLength: 60 })

/** Replays strikes at the times `steps` add up to, keeping the state as a store would (expired: none). */
function replay (rule: BanRule, steps: number[], start = 1_700_000_000_000) {
  let state: BanState | undefined
  let expires = 0
  let now = start
  const out: Array<{ now: number, before: BanState | undefined, result: ReturnType<typeof banStrike> }> = []
  for (const dt of steps) {
    now += dt
    const before = expires > now ? state : undefined
    const result = banStrike(before, now, rule)
    if (result.state !== undefined) {
      state = result.state
      expires = now + result.ttlMs
    }
    out.push({ now, before, result })
  }
  return out
}

t.test('banDuration: for, times backoff per earlier ban, never above max, never shrinking', async (t) => {
  fc.assert(fc.property(ruleArb, fc.integer({ min: 0, max: 50 }), (rule, level) => {
    const d = banDuration(level, rule)
    if (d < Math.min(rule.forMs, rule.maxMs) || d > rule.maxMs) return false
    if (level > 0 && d < banDuration(level - 1, rule)) return false
    // exact while below max: floor(previous * backoff)
    const previous = banDuration(Math.max(0, level - 1), rule)
    return level === 0 || d === Math.min(rule.maxMs, Math.max(previous, Math.floor(previous * rule.backoffMilli / 1000)))
  }))
  t.equal(banDuration(0, { after: 1, forMs: 10_000, backoffMilli: 3000, maxMs: 60_000, windowMs: 1 }), 10_000)
  t.equal(banDuration(1, { after: 1, forMs: 10_000, backoffMilli: 3000, maxMs: 60_000, windowMs: 1 }), 30_000)
  t.equal(banDuration(2, { after: 1, forMs: 10_000, backoffMilli: 3000, maxMs: 60_000, windowMs: 1 }), 60_000)
  t.equal(banDuration(1000, { after: 1, forMs: 10_000, backoffMilli: 1000, maxMs: 10_000, windowMs: 1 }), 10_000, 'backoff 1: always for')
})

t.test('banStrike: the rules of a ban hold on random strike sequences', async (t) => {
  fc.assert(fc.property(ruleArb, stepsArb, (rule, steps) => {
    for (const { now, before, result } of replay(rule, steps)) {
      if (before !== undefined && now < before.u) {
        // banned: nothing changes, and the strike says until when
        if (result.state !== undefined || result.started || result.until !== before.u) return false
        continue
      }
      if (result.started) {
        // a ban starts only at the after-th strike of a window, and lasts banDuration(level)
        const strikes = before === undefined || before.k === 0 || now - before.s >= rule.windowMs ? 1 : before.k + 1
        if (strikes !== rule.after) return false
        const level = before !== undefined && before.l > 0 && now < before.f ? before.l : 0
        if (result.until !== now + banDuration(level, rule)) return false
        if (result.state?.l !== level + 1 || result.state.k !== 0) return false
      } else {
        if (result.until > now) return false
        if (result.state === undefined || result.state.k < 1 || result.state.k >= rule.after) return false
      }
      if (result.ttlMs < 1) return false
    }
    return true
  }))
  t.pass('held')
})

t.test('banStrike: after strikes within one window ban; a window apart they do not', async (t) => {
  const rule: BanRule = { after: 3, forMs: 1000, backoffMilli: 1000, maxMs: 1000, windowMs: 10_000 }
  const within = replay(rule, [0, 9_998, 1])
  t.same(within.map((s) => s.result.started), [false, false, true], 'three within 10 s')
  const apart = replay(rule, [0, 5_000, 5_000])
  t.same(apart.map((s) => s.result.started), [false, false, false], 'the third a window after the first starts over')
})

t.test('banStrike: the level is remembered as long as the last ban lasted, then forgiven', async (t) => {
  const rule: BanRule = { after: 1, forMs: 1000, backoffMilli: 2000, maxMs: 100_000, windowMs: 10 }
  t.same(replay(rule, [0, 1000, 2000, 4000]).map((s) => s.result.until - s.now), [1000, 2000, 4000, 8000], 'each re-offence at the end of the ban: doubled')
  t.same(replay(rule, [0, 2000]).map((s) => s.result.until - s.now), [1000, 1000], 'one ban length after the end: forgiven')
  t.same(replay(rule, [0, 1999]).map((s) => s.result.until - s.now), [1000, 2000], '1 ms earlier: remembered')
})

t.test('banGate: denies exactly while banned, never when there is no state', async (t) => {
  const params = { limit: 5, windowMs: 1000, burst: 5 }
  const state: BanState = { u: 2000, l: 1, k: 0, s: 1000, f: 3000, e: 3000 }
  t.same(banGate(undefined, 0, 1, params).decision.allowed, true)
  t.same(banGate(state, 1999, 1, params).decision, { allowed: false, limit: 5, remaining: 0, resetMs: 2000, retryAfterMs: 1 })
  t.same(banGate(state, 2000, 1, params).decision.allowed, true, 'at until: over')
  t.equal(banGate(state, 2500, 1, params).decision.remaining, Number.MAX_SAFE_INTEGER, 'an allowing gate is never the most restrictive')
})

t.test('the gate gives nothing back: its refund keeps the state until it expires', async (t) => {
  const params = { limit: 5, windowMs: 1000, burst: 5 }
  const state: BanState = { u: 2000, l: 1, k: 0, s: 1000, f: 3000, e: 3000 }
  t.same(banGateAlgorithm.refund(state, 2500, 1, params), { state, ttlMs: 500 })
  t.same(banGateAlgorithm.refund(state, 3000, 1, params), { state: undefined, ttlMs: 0 })
  t.same(banGateAlgorithm.refund(undefined, 0, 1, params), { state: undefined, ttlMs: 0 })
  t.equal(banGateAlgorithm.refundLua, '', 'no refund script assembles it')
})

t.test('the gate is never charged: its charge keeps the state as it is, none staying none', async (t) => {
  const params = { limit: 5, windowMs: 1000, burst: 5 }
  const state: BanState = { u: 2000, l: 1, k: 0, s: 1000, f: 3000, e: 3000 }
  t.same(banGateAlgorithm.charge(state, 2500, 7, params), { state, ttlMs: 500 })
  t.same(banGateAlgorithm.charge(undefined, 0, 7, params), { state: undefined, ttlMs: 1 })
  t.equal(banGateAlgorithm.chargeLua, '', 'no charge script assembles it')
})

t.test('parseDuration: milliseconds or a count and a unit of a rate, 1 ms to 365 days', async (t) => {
  t.equal(parseDuration(1), 1)
  t.equal(parseDuration('15min'), 900_000)
  t.equal(parseDuration(' 2 H '), 7_200_000)
  t.equal(parseDuration('min'), 60_000, 'a unit alone is one of it')
  t.equal(parseDuration('365d'), 31_536_000_000)
  for (const bad of [0, 1.5, -1, '0s', '366d', '1 fortnight', '1.5h', '', true, null, undefined, 31_536_000_001]) {
    t.equal(parseDuration(bad), undefined, String(bad))
  }
})
