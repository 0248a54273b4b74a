// The pure ban steps (algorithms/ban.ts), property-tested as the algorithms are: on random
// strike sequences, the rules of the `ban` option hold.
import t from 'tap'
import fc from 'fast-check'
import { banDuration, banGate, banGateAlgorithm, banStrike } from '../../algorithms/ban.js'
import { parseDuration } from '../../lib/config/rate.js'
import type { BanState } from '../../algorithms/ban.js'
import type { BanRule } from '../../lib/core/algorithm.js'
import { banRuleArb } from '../support/algorithms.js'

const ruleArb = banRuleArb(200_000)
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
      if (before !== undefined && now < before.u && rule.extend !== true) {
        // banned: nothing changes, and the strike says until when
        if (result.state !== undefined || result.started || result.until !== before.u) return false
        continue
      }
      if (before !== undefined && now < before.u) {
        // banned, with extend: the same ban starts again, as long as a ban of its level, never
        // ending sooner; not started (onBan once per ban), its level kept (backoff per ban)
        const length = banDuration(before.l - 1, rule)
        if (result.started || result.until !== Math.max(before.u, now + length)) return false
        if (result.state?.u !== result.until || result.state.l !== before.l || result.state.k !== 0) return false
        if (result.state.f < result.until + length || result.state.f < before.f || result.ttlMs !== result.state.f - now) return false
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

t.test('banStrike: a ban state is kept as long as it can count, so its expiry never changes a decision, whichever window strikes', async (t) => {
  // the rates of one identity have windows of several lengths, and any of them may deny next:
  // a store that drops the state when it expires must decide as one that keeps it forever
  const windowsArb = fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 4 })
  const strikesArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 300_000 }), fc.nat()), { minLength: 1, maxLength: 60 })
  fc.assert(fc.property(ruleArb, windowsArb, strikesArb, (rule, windows, strikes) => {
    const longestWindowMs = Math.max(...windows)
    let kept: BanState | undefined
    let state: BanState | undefined
    let expires = 0
    let now = 1_700_000_000_000
    for (const [dt, pick] of strikes) {
      now += dt
      const r: BanRule = { ...rule, windowMs: windows[pick % windows.length], longestWindowMs }
      const expected = banStrike(kept, now, r)
      const result = banStrike(expires > now ? state : undefined, now, r)
      if (result.until !== expected.until || result.started !== expected.started) return false
      if (expected.state !== undefined) kept = expected.state
      if (result.state !== undefined) {
        state = result.state
        expires = now + result.ttlMs
      }
    }
    return true
  }))
  // the shrunk counterexample of test/regressions/ban-strike-longer-window.test.ts: a strike by
  // '1/s', then one by '2/2s' 1000 ms later, after 2
  const rule: BanRule = { after: 2, forMs: 500, backoffMilli: 1000, maxMs: 500, windowMs: 1000, longestWindowMs: 2000 }
  const first = banStrike(undefined, 1000, rule)
  t.equal(first.ttlMs, 2000, 'kept for the longest window, not the one that struck')
  t.equal(banStrike(first.state, 2000, { ...rule, windowMs: 2000 }).started, true, 'so the 2 s rate counts it')
  t.equal(banStrike(undefined, 1000, { ...rule, longestWindowMs: undefined }).ttlMs, 1000, 'absent: the window that struck')
})

t.test('banStrike with extend, after 1, backoff 1: every strike bans for `for` from it, and only one that finds no ban starts one', async (t) => {
  // the property @fastify/rate-limit's continueExceeding has: a client is let through again only
  // once it stayed away for a whole `for` after its last request over the limit
  fc.assert(fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 200_000 }), stepsArb, (forMs, windowMs, steps) => {
    const rule: BanRule = { after: 1, forMs, backoffMilli: 1000, maxMs: forMs, windowMs, extend: true }
    let last: number | undefined
    for (const { now, result } of replay(rule, steps)) {
      if (result.until !== now + forMs) return false
      // started: the strike before it (if any) was `for` or more ago
      if (result.started !== (last === undefined || now - last >= forMs)) return false
      last = now
    }
    return true
  }))
  t.pass('held')
})

t.test('banStrike with extend: a restart keeps the level, so the next ban grows once, not per request', async (t) => {
  const rule: BanRule = { after: 1, forMs: 1000, backoffMilli: 2000, maxMs: 100_000, windowMs: 10, extend: true }
  const strikes = replay(rule, [0, 500, 500, 500, 1500])
  t.same(strikes.map((s) => s.result.until - s.now), [1000, 1000, 1000, 1000, 2000], 'restarted at 1 s three times, then a second ban of 2 s')
  t.same(strikes.map((s) => s.result.started), [true, false, false, false, true], 'started twice: two bans')
  t.same(strikes.map((s) => s.result.state?.l), [1, 1, 1, 1, 2])
  t.same(strikes[3].result.state, { u: 1_700_000_002_500, l: 1, k: 0, s: 1_700_000_000_000, f: 1_700_000_003_500, e: 1_700_000_003_500 },
    'forgotten one ban length after the new end')
  const behind = banStrike(strikes[3].result.state, 1_700_000_001_000, rule)
  t.equal(behind.until, 1_700_000_002_500, 'a clock behind never ends the ban sooner')
  t.equal((behind.state as BanState).f, 1_700_000_003_500)
  const shorter = banStrike(strikes[3].result.state, 1_700_000_002_000, { ...rule, forMs: 100, maxMs: 100 })
  t.same([shorter.until, (shorter.state as BanState).f], [1_700_000_002_500, 1_700_000_003_500], 'nor a shorter for since')
  t.same(banStrike(strikes[3].result.state, 1_700_000_002_000, { ...rule, extend: false }), { state: undefined, ttlMs: 0, until: 1_700_000_002_500, started: false },
    'without extend: nothing changes')
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
