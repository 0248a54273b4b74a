import fc from 'fast-check'
import { banGateAlgorithm } from '../../algorithms/ban.js'
import { fixedWindowAlgorithm } from '../../algorithms/index.js'
import type { BanRule } from '../../lib/core/algorithm.js'
import type { BanStrike, StoreBucket, StoreDecision } from '../../stores/store.js'
import { MemoryStore } from '../../stores/memory.js'
import { banRuleArb } from './algorithms.js'

/**
 * The agreement check between the ban's Lua twins and algorithms/ban.ts, shared by
 * ban-agreement.test.ts (the real strike script must pass it) and lua-mutants.test.ts (broken
 * ones must fail it): on random strike sequences, every strike's answer and every gate decision
 * in Redis is the memory store's.
 */

export interface BanScenario {
  /** The rule of a strike by the identity's rate of the shortest window (`windowMs`); its `longestWindowMs` is another rate's. */
  rule: BanRule
  start: number
  /** Each strike: the time since the last one, and whether the rate of the longest window struck it. */
  steps: Array<[number, boolean]>
}

/** Any rule the plugin can compile (durations up to 365 days), on strikes from any time on, by either of two windows. */
export const banScenarioArb: fc.Arbitrary<BanScenario> = fc.record({
  rule: fc.tuple(banRuleArb(31_536_000_000), fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 31_536_000_000 })))
    .map(([rule, longer]) => ({ ...rule, longestWindowMs: rule.windowMs + longer })),
  start: fc.integer({ min: 0, max: 4_000_000_000_000 }),
  // mostly short steps (strikes within a window, re-offences during and after bans), some long
  steps: fc.array(fc.tuple(fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 40_000_000_000 })), fc.boolean()), { minLength: 1, maxLength: 25 })
})

/** How the Redis side strikes (`RedisStore.strike`, or a script under test) and peeks (the real gate). */
export interface BanSide {
  strike (key: string, rule: BanRule, now: number): Promise<BanStrike>
  peek (buckets: StoreBucket[], cost: number, now: number): Promise<StoreDecision>
}

/** The check: replays a scenario on a fresh memory store and on fresh Redis keys (`{<run>}:ban`), throwing at the first difference. */
export function banAgreement ({ strike, peek }: BanSide): (scenario: BanScenario) => Promise<void> {
  let run = 0
  return async ({ rule, start, steps }) => {
    const memory = new MemoryStore()
    try {
      const id = `{${++run}}`
      const gated: StoreBucket[] = [
        { key: `${id}:ban`, algorithm: banGateAlgorithm, params: { limit: 3, windowMs: 1000, burst: 3 } },
        { key: `${id}:fw`, algorithm: fixedWindowAlgorithm, params: { limit: 1_000_000, windowMs: 1000, burst: 1_000_000 } }
      ]
      let now = start
      for (const [i, [dt, longest]] of steps.entries()) {
        now += dt
        const r = longest ? { ...rule, windowMs: rule.longestWindowMs as number } : rule
        const expected = JSON.stringify(memory.strike(`${id}:ban`, r, now))
        const actual = JSON.stringify(await strike(`${id}:ban`, r, now))
        if (actual !== expected) throw new Error(`strike ${i} at ${now}: Redis ${actual}, TypeScript ${expected}`)
        const gate = JSON.stringify(memory.peek(gated, 1, now))
        const redisGate = JSON.stringify(await peek(gated, 1, now))
        if (redisGate !== gate) throw new Error(`gate ${i} at ${now}: Redis ${redisGate}, TypeScript ${gate}`)
      }
    } finally {
      memory.close()
    }
  }
}
