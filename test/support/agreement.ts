import fc from 'fast-check'
import { algorithms } from '../../algorithms/index.js'
import type { Algorithm, AlgorithmName, AlgorithmParams } from '../../algorithms/index.js'
import { MemoryStore } from '../../stores/memory.js'
import type { StoreBucket, StoreDecision } from '../../stores/store.js'
import { scenarioArb as singleWindowArb } from './algorithms.js'

/**
 * The agreement check between the Lua twins and the TypeScript algorithms, shared by
 * agreement.test.ts (the real twins must pass it) and lua-mutants.test.ts (broken twins must
 * fail it).
 */

/** A window by algorithm name, so that a counterexample prints short. */
export interface Window {
  algorithm: AlgorithmName
  params: AlgorithmParams
}

export interface Scenario {
  windows: Window[]
  start: number
  requests: Array<{ dt: number, cost: number }>
}

export type ParamsArb = (algorithm: Algorithm<any>) => fc.Arbitrary<AlgorithmParams>

/**
 * The algorithm tests' random traffic (with clocks that sometimes go backwards) on a first
 * window of an algorithm from `pool`, plus up to two more windows; costs are cut to the
 * smallest burst, as the plugin guarantees.
 */
export function scenarioArb (pool: readonly AlgorithmName[], paramsOf: ParamsArb): fc.Arbitrary<Scenario> {
  const windowArb = fc.constantFrom(...pool).chain((algorithm) => paramsOf(algorithms[algorithm]).map((params) => ({ algorithm, params })))
  return fc.tuple(
    fc.constantFrom(...pool).chain((algorithm) =>
      singleWindowArb(paramsOf(algorithms[algorithm]), { jitter: true }).map((scenario) => ({ algorithm, scenario }))),
    fc.array(windowArb, { maxLength: 2 })
  ).map(([{ algorithm, scenario: { params, start, requests } }, more]) => {
    const windows = [{ algorithm, params }, ...more]
    const burst = Math.min(...windows.map((w) => w.params.burst))
    return { windows, start, requests: requests.map(({ dt, cost }) => ({ dt, cost: Math.min(cost, burst) })) }
  })
}

export function fields (d: StoreDecision): string {
  const { allowed, limit, remaining, resetMs, retryAfterMs, index, now } = d
  return JSON.stringify({ allowed, limit, remaining, resetMs, retryAfterMs, index, now })
}

/** How the Redis side decides one request: `RedisStore.consume`, or a script under test. */
export type Decide = (buckets: StoreBucket[], cost: number, now: number) => Promise<StoreDecision>

/**
 * The check itself: replays a scenario on a fresh memory store (the TypeScript algorithms) and
 * on fresh Redis keys through `decide`, and throws at the first decision that differs in any
 * field. Keys are `{<run>}:<window>`, new for every run.
 */
export function agreement (decide: Decide): (scenario: Scenario) => Promise<void> {
  let run = 0
  return async ({ windows, start, requests }) => {
    run++
    const buckets: StoreBucket[] = windows.map(({ algorithm, params }, i) => ({ key: `{${run}}:${i}`, algorithm: algorithms[algorithm], params }))
    const memory = new MemoryStore()
    let now = start
    try {
      for (const [i, { dt, cost }] of requests.entries()) {
        now += dt
        const expected = fields(memory.consume(buckets, cost, now))
        const actual = fields(await decide(buckets, cost, now))
        if (actual !== expected) throw new Error(`request ${i}: Redis ${actual}, TypeScript ${expected}`)
      }
    } finally {
      memory.close()
    }
  }
}

/** A scenario whose requests are sometimes refunded: `refunds[i]` picks whether, when and how much. */
export interface RefundScenario extends Scenario {
  refunds: number[]
}

export function refundScenarioArb (pool: readonly AlgorithmName[], paramsOf: ParamsArb): fc.Arbitrary<RefundScenario> {
  return fc.tuple(scenarioArb(pool, paramsOf), fc.array(fc.nat(), { minLength: 40, maxLength: 40 }))
    .map(([scenario, refunds]) => ({ ...scenario, refunds }))
}

let refundRuns = 0

/** How the Redis side refunds or charges: `RedisStore.refund` and `.charge`, or a script under test. */
export type Refund = (buckets: StoreBucket[], cost: number, now: number) => Promise<void>

/** How the Redis side settles a request's cost: its refund, its peek and, for charges, its charge. */
export interface Settle {
  refund: Refund
  peek: Decide
  /** Without it, only refunds follow the requests. */
  charge?: Refund
}

/**
 * The agreement check of the refunds and charges: as `agreement`, and after most requests a
 * refund of the request's buckets (its cost, or one more) or, when `charge` is given, a charge
 * (a settled cost: up to three bursts, now and then one past any bound), at the same instant,
 * later (up to two of the first window) or on a clock behind, on both sides; then both sides
 * peek at the buckets, and every later decision must still agree.
 */
export function refundAgreement (decide: Decide, { refund, peek, charge }: Settle): (scenario: RefundScenario) => Promise<void> {
  return async ({ windows, start, requests, refunds }) => {
    // new keys for every run of every check made here, which may share a store's key prefix
    const run = ++refundRuns
    const buckets: StoreBucket[] = windows.map(({ algorithm, params }, i) => ({ key: `{refund-${run}}:${i}`, algorithm: algorithms[algorithm], params }))
    const memory = new MemoryStore()
    const burst = Math.min(...windows.map((w) => w.params.burst))
    const windowMs = windows[0].params.windowMs
    let now = start
    try {
      for (const [i, { dt, cost }] of requests.entries()) {
        now += dt
        const expected = fields(memory.consume(buckets, cost, now))
        const actual = fields(await decide(buckets, cost, now))
        if (actual !== expected) throw new Error(`request ${i}: Redis ${actual}, TypeScript ${expected}`)
        const r = refunds[i]
        // refunds only: two requests in three; with charges: a refund or a charge, three in four
        const op = charge === undefined ? ['none', 'refund', 'refund'][r % 3] : ['none', 'refund', 'charge', 'charge'][r % 4]
        if (op === 'none') continue
        const at = now + [0, r % (2 * windowMs + 1), -(r % (windowMs + 1))][r % 3]
        if (op === 'refund') {
          memory.refund(buckets, cost + (r % 2), at)
          await refund(buckets, cost + (r % 2), at)
        } else {
          const settled = r % 8 === 3 ? (r % 16 < 8 ? Number.MAX_SAFE_INTEGER : 1e15) : 1 + (r % (3 * burst))
          memory.charge(buckets, settled, at)
          await (charge as Refund)(buckets, settled, at)
        }
        for (const size of [1, burst]) {
          const x = fields(await peek(buckets, size, at))
          const y = fields(memory.peek(buckets, size, at))
          if (x !== y) throw new Error(`request ${i}, ${op} at +${at - now}: Redis peeks ${x}, TypeScript ${y}`)
        }
      }
    } finally {
      memory.close()
    }
  }
}
