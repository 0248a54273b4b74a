import fc from 'fast-check'
import { maxHeld } from '../../algorithms/index.js'
import type { Algorithm, AlgorithmParams } from '../../algorithms/index.js'
import { expect, paramsArb, replay, requestArb, scenarioArb } from './algorithms.js'
import type { Fits, Request, Scenario } from './algorithms.js'
import { decisionAt, gapOf, probeTimes, roundTrip, withGaps } from './refunds.js'

/**
 * The debt properties (`Algorithm.charge`: a cost settled after the response, charged whatever
 * the bucket holds), shared by debt.test.ts (the real charges must keep them) and
 * mutants.test.ts (broken ones must not). Scenarios mix charges into the traffic of
 * test/support/algorithms.ts, so every property written for consume (exact retryAfterMs,
 * resetMs and remaining, ttl, JSON) also runs on states in debt.
 */

/** Costs of a charge that the bound never cuts: up to three capacities (the bound is at least two past it). */
const settledCost = ({ burst }: AlgorithmParams): fc.Arbitrary<number> => fc.oneof(
  fc.integer({ min: 1, max: burst }),
  fc.integer({ min: burst, max: Math.min(3 * burst, Number.MAX_SAFE_INTEGER) })
)

/** Costs past any bound: the largest safe integer, 1e15, and the bound itself. */
const hugeCost = (params: AlgorithmParams): fc.Arbitrary<number> =>
  fc.constantFrom(Number.MAX_SAFE_INTEGER, 1e15, maxHeld(params), maxHeld(params) + 1)

/**
 * Requests of `requestArb`, and charges among them (about one in three) at the same gaps; with
 * `huge`, sometimes a charge past the bound.
 */
export function debtRequestArb (huge: boolean): (params: AlgorithmParams, jitter: boolean) => fc.Arbitrary<Request> {
  return (params, jitter) => {
    const charge = (cost: fc.Arbitrary<number>): fc.Arbitrary<Request> =>
      requestArb(params, jitter).chain(({ dt }) => cost.map((c) => ({ dt, cost: c, charge: true })))
    return fc.oneof(
      { weight: 4, arbitrary: requestArb(params, jitter) },
      { weight: 2, arbitrary: charge(settledCost(params)) },
      { weight: huge ? 1 : 0, arbitrary: charge(hugeCost(params)) }
    )
  }
}

/** Scenarios of `params` with charges among the requests (`huge`: some past the bound). */
export function debtScenarioArb (params: fc.Arbitrary<AlgorithmParams>, { jitter = false, huge = false } = {}): fc.Arbitrary<Scenario> {
  return scenarioArb(params, { jitter, request: debtRequestArb(huge) })
}

/** Ordinary rates and traffic with charges below the bound, on clocks that only move forward. */
export const indebted = (algorithm: Algorithm<any>): fc.Arbitrary<Scenario> => debtScenarioArb(paramsArb(algorithm))

type History = Array<[number, number]>

/**
 * The window algorithms decide exactly by their definition when the units charged count as the
 * units of allowed requests do: in their window (fixed), in the log for W, in the estimate
 * (sliding window). So a debt lasts as long as the window that counts it, and not 1 ms more.
 */
export function decidesWithCharges (algorithm: Algorithm<any>, fits: Fits, scenarios = indebted(algorithm)): fc.IProperty<[Scenario]> {
  return fc.property(scenarios, (scenario) => {
    const counted: History = []
    const steps = replay(algorithm, scenario)
    let now = scenario.start
    let step = 0
    scenario.requests.forEach(({ dt, cost, charge }, i) => {
      now += dt
      if (charge === true) {
        counted.push([now, cost])
        return
      }
      const { allowed } = steps[step++].result.decision
      expect(allowed === fits(counted, now, cost, scenario.params), `request ${i}: allowed is ${allowed}`)
      if (allowed) counted.push([now, cost])
    })
  })
}

/**
 * A charge followed by a refund of the same cost, with nothing in between, leaves the bucket
 * as it was: every later request, of any cost, at any instant from the latest clock on, gets
 * the decision it would have got without the two. On any state (in debt too), with the charge
 * and the refund at any gap (later, across windows, on a clock behind).
 */
export function refundUndoesCharge (algorithm: Algorithm<any>, scenarios = indebted(algorithm)): fc.IProperty<[[Scenario, number[]]]> {
  return fc.property(withGaps(scenarios), ([scenario, gaps]) => {
    const { params } = scenario
    replay(algorithm, scenario).forEach(({ now, cost, after }, i) => {
      const charged = now + gapOf(gaps[i], now, params.windowMs)
      const refunded = charged + gapOf(gaps[39 - i], charged, params.windowMs)
      const settled = 1 + gaps[i] % (3 * cost)
      const { state } = algorithm.charge(roundTrip(after), charged, settled, params)
      const back = algorithm.refund(roundTrip(state), refunded, settled, params).state
      for (const probe of probeTimes(Math.max(now, charged, refunded), params)) {
        for (const size of [1, params.burst]) {
          const x = decisionAt(algorithm, back, probe, size, params)
          const y = decisionAt(algorithm, after, probe, size, params)
          expect(x === y, `request ${i}: charged ${settled} at +${charged - now}, refunded at +${refunded - now}, probe +${probe - now} cost ${size}: ${x}, without them ${y}`)
        }
      }
    })
  })
}

/**
 * A charge saturates at the bound, `maxHeld(params)` units held, and nowhere sooner: from an
 * empty bucket a charge past the bound holds exactly that many (all of them refunded empties it,
 * one fewer does not); on any state, a charge of the largest safe integer, of 1e15 and of the
 * bound itself (where 1e15 is past it) leave the same state, and a further charge changes no
 * decision.
 */
export function chargeSaturates (algorithm: Algorithm<any>, scenarios = indebted(algorithm)): fc.IProperty<[Scenario]> {
  return fc.property(scenarios, (scenario) => {
    const { params, start } = scenario
    const held = maxHeld(params)
    const full = algorithm.charge(undefined, start, Number.MAX_SAFE_INTEGER, params).state
    const empty = algorithm.refund(roundTrip(full), start, held, params).state
    for (const probe of probeTimes(start, params)) {
      const x = decisionAt(algorithm, empty, probe, params.burst, params)
      const y = decisionAt(algorithm, undefined, probe, params.burst, params)
      expect(x === y, `a refund of the bound ${held} leaves ${x}, not empty ${y}`)
    }
    if (held > 1) {
      const one = algorithm.refund(roundTrip(full), start, held - 1, params).state
      expect(!algorithm.consume(roundTrip(one), start, params.burst, params).decision.allowed, `a refund of ${held - 1} empties the bound`)
    }
    for (const { now, after } of replay(algorithm, scenario)) {
      // 1e15 is below the bound of a window of 4 ms or less
      const costs = [Number.MAX_SAFE_INTEGER, held, ...(held <= 1e15 ? [1e15] : [])]
      const [most, ...others] = costs.map((cost) => algorithm.charge(roundTrip(after), now, cost, params))
      const text = JSON.stringify(most)
      for (const other of others) expect(JSON.stringify(other) === text, `charges past the bound differ: ${text}, ${JSON.stringify(other)}`)
      const again = algorithm.charge(roundTrip(most.state), now, 1, params).state
      for (const probe of probeTimes(now, params)) {
        const x = decisionAt(algorithm, again, probe, 1, params)
        const y = decisionAt(algorithm, most.state, probe, 1, params)
        expect(x === y, `a charge at the bound changed ${y} into ${x}`)
      }
    }
  })
}
