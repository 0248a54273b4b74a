import fc from 'fast-check'
import { algorithmNames, algorithms } from '../../algorithms/index.js'
import type { AlgorithmName, AlgorithmParams } from '../../algorithms/index.js'
import type { Store, StoreBucket, StoreDecision } from '../../stores/store.js'
import { paramsArb } from './algorithms.js'

/**
 * The exactness check of micro-batching, shared by the SQLite and Redis batching tests: random
 * traffic in turns of the event loop (each turn's calls issued together, so a batching store
 * decides them in one batch), against the same traffic one call at a time on an unbatched store.
 * Every field of every decision must be the same.
 */

/** One limit: its windows (one to three, any algorithms) and its key. */
interface Limit {
  windows: Array<{ algorithm: AlgorithmName, params: AlgorithmParams }>
}

export interface BatchScenario {
  limits: Limit[]
  start: number
  /** Each turn: ms since the last one, then its requests (which limit, which identity, what cost, ms after the turn's start). */
  turns: Array<{ dt: number, requests: Array<{ limit: number, identity: number, cost: number, at: number }> }>
}

const windowArb = fc.constantFrom(...algorithmNames)
  .chain((algorithm) => paramsArb(algorithms[algorithm]).map((params) => ({ algorithm, params })))

export const batchScenarioArb: fc.Arbitrary<BatchScenario> = fc.record({
  limits: fc.array(fc.record({ windows: fc.array(windowArb, { minLength: 1, maxLength: 3 }) }), { minLength: 1, maxLength: 3 }),
  start: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  turns: fc.array(fc.record({
    dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 200_000 })),
    requests: fc.array(fc.record({
      limit: fc.nat(2),
      identity: fc.nat(2),
      cost: fc.integer({ min: 1, max: 5 }),
      // calls of one turn may carry different instants (or the same one)
      at: fc.oneof(fc.constant(0), fc.nat(50))
    }), { minLength: 1, maxLength: 12 })
  }), { minLength: 1, maxLength: 12 })
})

function decisionOf (d: StoreDecision): string {
  const { allowed, limit, remaining, resetMs, retryAfterMs, index, now } = d
  return JSON.stringify({ allowed, limit, remaining, resetMs, retryAfterMs, index, now })
}

/**
 * Replays `scenario` on `batched` (each turn's calls issued together) and on `single` (one
 * call after another, in the same order), under keys new to both stores (`run`), and throws at
 * the first decision that differs.
 */
export async function sameDecisions (scenario: BatchScenario, batched: Store, single: Store, run: string): Promise<void> {
  const buckets: StoreBucket[][][] = scenario.limits.map(({ windows }, l) => [0, 1, 2].map((identity) =>
    windows.map(({ algorithm, params }, w) => ({ key: `{${run}:${l}:${identity}}:${w}`, algorithm: algorithms[algorithm], params }))))
  let now = scenario.start
  let n = 0
  for (const { dt, requests } of scenario.turns) {
    now += dt
    const calls = requests.map(({ limit, identity, cost, at }) => {
      const windows = buckets[limit % buckets.length][identity]
      // the plugin never asks more than the smallest burst
      return { windows, cost: Math.min(cost, ...windows.map((b) => b.params.burst)), now: now + at }
    })
    const together = await Promise.all(calls.map(({ windows, cost, now }) => batched.consume(windows, cost, now)))
    for (const [i, { windows, cost, now }] of calls.entries()) {
      const expected = decisionOf(await single.consume(windows, cost, now))
      const actual = decisionOf(together[i])
      if (actual !== expected) throw new Error(`request ${n + i} (turn of ${calls.length}): batched ${actual}, one by one ${expected}`)
    }
    n += calls.length
  }
}
