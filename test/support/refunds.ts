import fc from 'fast-check'
import { maxHeld } from '../../algorithms/index.js'
import type { Algorithm, AlgorithmParams } from '../../algorithms/index.js'
import { expect, replay, usual } from './algorithms.js'
import type { Scenario } from './algorithms.js'

/**
 * The refund properties, shared by refund.test.ts (the real refunds must keep them) and
 * mutants.test.ts (broken refunds must not). Each returns an `fc.IProperty`.
 *
 * A refund follows its consume at a random later time (sometimes on a window boundary,
 * sometimes several windows on, sometimes on a clock behind the one that charged), and is
 * judged by what it changes: the decisions every later request gets.
 */

/** Gaps between a consume and its refund, from a random number, for a window of `windowMs`. */
export function gapOf (seed: number, at: number, windowMs: number): number {
  switch (seed % 6) {
    case 0: return 0
    case 1: return seed % 4
    case 2: return seed % (windowMs + 1)
    case 3: return seed % (3 * windowMs + 1)
    // the next window boundary, 1 ms before or after
    case 4: return windowMs - (at % windowMs) + (seed % 3) - 1
    // a clock behind the one that charged (another process, another server)
    default: return -(seed % (windowMs + 1))
  }
}

/** Instants from `from` on where later requests probe the state: now, just after, and across windows. */
export function probeTimes (from: number, { windowMs }: AlgorithmParams): number[] {
  const boundary = from - (from % windowMs) + windowMs
  return [from, from + 1, from + windowMs - 1, from + windowMs, boundary - 1, boundary, from + 2 * windowMs]
}

export function roundTrip (state: unknown): any {
  return state === undefined ? undefined : JSON.parse(JSON.stringify(state))
}

export function decisionAt (algorithm: Algorithm<any>, state: unknown, now: number, cost: number, params: AlgorithmParams): string {
  return JSON.stringify(algorithm.consume(roundTrip(state), now, cost, params).decision)
}

export const withGaps = (scenarios: fc.Arbitrary<Scenario>): fc.Arbitrary<[Scenario, number[]]> =>
  fc.tuple(scenarios, fc.array(fc.nat(), { minLength: 40, maxLength: 40 }))

/**
 * A consume followed by its refund, with nothing else charged to the bucket in between, leaves
 * it as if the request never came: every later request, of any cost, at any instant from both
 * clocks on, gets the decision it would have got without the two. This holds for every
 * algorithm, however long the gap (the refund of a window that has ended gives nothing back,
 * and nothing of it counts any more either).
 */
export function refundUndoesConsume (algorithm: Algorithm<any>, scenarios = usual(algorithm)): fc.IProperty<[[Scenario, number[]]]> {
  return fc.property(withGaps(scenarios), ([scenario, gaps]) => {
    const { params } = scenario
    replay(algorithm, scenario).forEach(({ now, cost, before, after, result }, i) => {
      if (!result.decision.allowed) return
      const at = now + gapOf(gaps[i], now, params.windowMs)
      const refunded = algorithm.refund(roundTrip(after), at, cost, params)
      for (const probe of probeTimes(Math.max(now, at), params)) {
        for (const size of [1, params.burst]) {
          const x = decisionAt(algorithm, refunded.state, probe, size, params)
          const y = decisionAt(algorithm, before, probe, size, params)
          expect(x === y, `request ${i} refunded at +${at - now}, probe +${probe - now} cost ${size}: ${x}, without it ${y}`)
        }
      }
    })
  })
}

/**
 * A refund is well formed: a state of safe integers (none below 0 but a token bucket's tokens
 * in debt) kept at least 1 ms, or no state and a ttl of 0; and forgetting it after its ttl, as
 * stores do, changes no decision.
 */
export function refundIsWellFormed (algorithm: Algorithm<any>, scenarios = usual(algorithm)): fc.IProperty<[[Scenario, number[]]]> {
  return fc.property(withGaps(scenarios), ([scenario, gaps]) => {
    const { params } = scenario
    replay(algorithm, scenario).forEach(({ now, cost, after }, i) => {
      const at = now + gapOf(gaps[i], now, params.windowMs)
      const { state, ttlMs } = algorithm.refund(roundTrip(after), at, 1 + (gaps[i] % (2 * cost)), params)
      if (state === undefined) {
        expect(ttlMs === 0, `request ${i}: no state, ttlMs ${ttlMs}`)
        return
      }
      expect(ttlMs >= 1 && Number.isSafeInteger(ttlMs), `request ${i}: ttlMs ${ttlMs}`)
      expect(JSON.stringify(roundTrip(state)) === JSON.stringify(state), `request ${i}: state changes in JSON`)
      for (const [field, values] of Object.entries(state as Record<string, number | number[]>)) {
        // a token bucket in debt holds fewer than 0 tokens, down to its bound
        const least = algorithm.name === 'token-bucket' && field === 'n' ? params.burst - maxHeld(params) : 0
        for (const v of [values].flat()) expect(Number.isSafeInteger(v) && v >= least && !Object.is(v, -0), `request ${i}: state value ${v}`)
      }
      const expiry = at + ttlMs
      if (expiry < Math.max(now, at)) return
      for (const size of [1, params.burst]) {
        const x = decisionAt(algorithm, state, expiry, size, params)
        const y = decisionAt(algorithm, undefined, expiry, size, params)
        expect(x === y, `request ${i}: at its expiry the refunded state decides ${x}, no state ${y}`)
      }
    })
  })
}

/**
 * A refund never takes a bucket below empty, and never charges: giving back more than was ever
 * charged leaves an empty bucket (not one with more than its capacity: every later request decides
 * as on no state), and after any
 * refund every later request is allowed at least as readily as before it, with no fewer units
 * free and never more than the capacity.
 */
export function refundNeverBelowEmpty (algorithm: Algorithm<any>, scenarios = usual(algorithm)): fc.IProperty<[[Scenario, number[]]]> {
  return fc.property(withGaps(scenarios), ([scenario, gaps]) => {
    const { params } = scenario
    const everything = scenario.requests.reduce((sum, r) => sum + r.cost, 0)
    // GCRA keeps no clock of its own: on a clock behind one that charged it sees more of the
    // bucket used, as its consume does; so the bucket is judged from the latest clock on (that
    // of a charge, `Request.charge`, included)
    const latestAt: number[] = []
    let clock = scenario.start
    let latest = -Infinity
    for (const { dt, charge } of scenario.requests) {
      clock += dt
      latest = Math.max(latest, clock)
      if (charge !== true) latestAt.push(latest)
    }
    replay(algorithm, scenario).forEach(({ now, cost, after }, i) => {
      const latest = latestAt[i]
      const at = now + gapOf(gaps[i], now, params.windowMs)
      const all = algorithm.refund(roundTrip(after), at, everything + gaps[i] % 3, params).state
      const some = algorithm.refund(roundTrip(after), at, 1 + (gaps[i] % (2 * cost)), params).state
      for (const probe of probeTimes(Math.max(latest, at), params)) {
        for (const size of [1, params.burst]) {
          const x = decisionAt(algorithm, all, probe, size, params)
          const y = decisionAt(algorithm, undefined, probe, size, params)
          expect(x === y, `request ${i}, probe +${probe - now}: after a refund of everything ${x}, empty ${y}`)
          const without = algorithm.consume(roundTrip(after), probe, size, params).decision
          const with_ = algorithm.consume(roundTrip(some), probe, size, params).decision
          expect(with_.allowed || !without.allowed, `request ${i}, probe +${probe - now}: denied after a refund, allowed before`)
          // units free before this probe: what remains, plus its own cost when it was allowed
          const free = (d: typeof without): number => d.remaining + (d.allowed ? size : 0)
          expect(free(with_) >= free(without) && free(with_) <= params.burst,
            `request ${i}, probe +${probe - now}: ${free(with_)} free after a refund, ${free(without)} before`)
        }
      }
    })
  })
}

/** The refund properties, by name. */
export const refundProperties = {
  'a consume followed by its refund leaves the bucket as if the request never came': refundUndoesConsume,
  'a refund is well formed and may be forgotten after its ttlMs': refundIsWellFormed,
  'a refund never takes a bucket below empty and never charges': refundNeverBelowEmpty
}
