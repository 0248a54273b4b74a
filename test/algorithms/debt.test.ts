import t from 'tap'
import fc from 'fast-check'
import { algorithmNames, algorithms, maxDebt, maxHeld, MAX_HELD_PRODUCT } from '../../algorithms/index.js'
import { encodeState, decodeState } from '../../algorithms/encoding.js'
import {
  commonProperties, deniedConsumesNothing, expect, extremeParamsArb, fixedWindowFits, matchesBucketReference, paramsArb,
  replay, slidingLogFits, slidingWindowFits
} from '../support/algorithms.js'
import { refundProperties } from '../support/refunds.js'
import { chargeSaturates, debtScenarioArb, decidesWithCharges, indebted, refundUndoesCharge } from '../support/debt.js'

// Debt: a cost settled after the response is charged whatever the bucket holds
// (`Algorithm.charge`). Every property the algorithms keep for consume and refund must also hold
// on states in debt, on ordinary traffic, on clocks that sometimes go backwards, at the largest
// rates the plugin accepts and with charges past the bound.

for (const name of algorithmNames) {
  const algorithm = algorithms[name]
  const arbitraries = {
    ordinary: indebted(algorithm),
    'clocks behind': debtScenarioArb(paramsArb(algorithm), { jitter: true }),
    'the largest rates': debtScenarioArb(extremeParamsArb(algorithm)),
    'charges past the bound, clocks behind': debtScenarioArb(paramsArb(algorithm), { jitter: true, huge: true }),
    'charges past the bound at the largest rates': debtScenarioArb(extremeParamsArb(algorithm), { huge: true })
  }

  t.test(`${name}: on states in debt`, async (t) => {
    for (const [title, property] of Object.entries(commonProperties)) {
      t.test(title, async () => {
        for (const [kind, scenarios] of Object.entries(arbitraries)) {
          // as in testClockBehind: a denial on a clock behind may move the state's clock on,
          // harmless since the stores never write a denial's state
          if (property === deniedConsumesNothing && kind.endsWith('clocks behind')) continue
          fc.assert(property(algorithm, scenarios), { numRuns: kind === 'ordinary' ? 100 : 50 })
        }
      })
    }
  })

  t.test(`${name}: refunds on states in debt take the newest units first and never go below empty`, async (t) => {
    for (const [title, property] of Object.entries(refundProperties)) {
      t.test(title, async () => {
        fc.assert(property(algorithm, arbitraries.ordinary))
        fc.assert(property(algorithm, arbitraries['clocks behind']), { numRuns: 50 })
      })
    }
  })

  t.test(`${name}: a charge followed by a refund of the same cost leaves the bucket as it was`, async () => {
    fc.assert(refundUndoesCharge(algorithm))
    fc.assert(refundUndoesCharge(algorithm, arbitraries['clocks behind']), { numRuns: 50 })
  })

  t.test(`${name}: a charge saturates at maxHeld, and nowhere sooner`, async () => {
    fc.assert(chargeSaturates(algorithm, arbitraries['charges past the bound, clocks behind']), { numRuns: 50 })
    fc.assert(chargeSaturates(algorithm, arbitraries['charges past the bound at the largest rates']), { numRuns: 50 })
  })

  t.test(`${name}: a state in debt reads back from its text as it was`, async () => {
    for (const scenarios of [arbitraries['charges past the bound, clocks behind'], arbitraries['charges past the bound at the largest rates']]) {
      fc.assert(fc.property(scenarios, (scenario) => {
        for (const { before } of replay(algorithm, scenario)) {
          if (before === undefined) continue
          const text = encodeState(algorithm, before as object)
          expect(/^-?\d+(,-?\d+)*$/.test(text), `${text} is not integers and commas`)
          expect(JSON.stringify(decodeState(algorithm, text)) === JSON.stringify(before), `${text} reads back otherwise`)
        }
      }), { numRuns: 50 })
    }
  })
}

const windows = { 'fixed-window': fixedWindowFits, 'sliding-window': slidingWindowFits, 'sliding-log': slidingLogFits } as const
for (const [name, fits] of Object.entries(windows)) {
  t.test(`${name}: a debt is paid back by the window: charged units count as allowed ones do`, async () => {
    fc.assert(decidesWithCharges(algorithms[name as keyof typeof windows], fits))
  })
}

for (const name of ['token-bucket', 'leaky-bucket', 'gcra'] as const) {
  t.test(`${name}: a debt is paid back by the refill, exactly as the BigInt token bucket below 0`, async () => {
    fc.assert(matchesBucketReference(algorithms[name], indebted(algorithms[name])))
  })
}

// What docs/algorithms.md shows, at 10 per second (burst 10), from an empty bucket at 0.

t.test('the buckets owe what a charge takes past empty, and pay it back at the rate', async (t) => {
  const params = { limit: 10, windowMs: 1000, burst: 10 }
  for (const name of ['token-bucket', 'leaky-bucket', 'gcra'] as const) {
    const algorithm = algorithms[name]
    const { state, ttlMs } = algorithm.charge(undefined, 0, 30, params)
    t.equal(ttlMs, 3000, `${name}: kept until full again, 30 units at 10 per second`)
    const denied = algorithm.consume(state, 0, 1, params).decision
    t.same([denied.allowed, denied.remaining, denied.retryAfterMs, denied.resetMs], [false, 0, 2100, 3000], `${name}: 20 owed, then 1`)
    t.equal(algorithm.consume(state, 2099, 1, params).decision.allowed, false)
    t.same(algorithm.consume(state, 2100, 1, params).decision.remaining, 0, `${name}: paid back at 2100`)
  }
})

t.test('the windows count a charge as a request: its window pays it back', async (t) => {
  const params = { limit: 10, windowMs: 1000, burst: 10 }
  const expected = {
    // the window [0, 1000) holds 30: none fits before it ends
    'fixed-window': 1000,
    // 30 weighted down over [1000, 2000): 30 * (1000 - e) / 1000 + 1 <= 10 from e = 700
    'sliding-window': 1700,
    // the entry of 30 leaves the log at 1000
    'sliding-log': 1000
  } as const
  for (const [name, retry] of Object.entries(expected)) {
    const algorithm = algorithms[name as keyof typeof expected]
    const { state } = algorithm.charge(undefined, 0, 30, params)
    const denied = algorithm.consume(state, 0, 1, params).decision
    t.same([denied.allowed, denied.remaining, denied.retryAfterMs], [false, 0, retry], name)
    t.equal(algorithm.consume(state, retry - 1, 1, params).decision.allowed, false, `${name}: 1 ms early`)
    t.equal(algorithm.consume(state, retry, 1, params).decision.allowed, true, `${name}: paid back`)
  }
})

t.test('the bound: 2^52 / W units held, at least twice the capacity wherever the plugin accepts the rate', async (t) => {
  t.equal(MAX_HELD_PRODUCT, 2 ** 52)
  t.equal(maxHeld({ limit: 10, windowMs: 60_000, burst: 10 }), 75_059_993_789)
  t.equal(maxDebt({ limit: 10, windowMs: 60_000, burst: 10 }), 75_059_993_779)
  t.equal(maxHeld({ limit: 100_000, windowMs: 86_400_000, burst: 100_000 }), 52_124_995)
  t.equal(maxDebt({ limit: 10, windowMs: 1000, burst: 10 }), 4_503_599_627_360, 'the example in docs/algorithms.md')
  // burst * W at the plugin's largest, MAX_RATE_PRODUCT (2^51 - 1): still one capacity of debt
  const burst = Math.floor((2 ** 51 - 1) / 86_400_000)
  t.ok(maxDebt({ limit: burst, windowMs: 86_400_000, burst }) >= burst)
  // past the plugin's checks (the algorithm tests' extremes), never below the capacity
  t.equal(maxHeld({ limit: 2 ** 40, windowMs: 86_400_000, burst: 2 ** 45 }), 2 ** 45)
  t.equal(maxDebt({ limit: 2 ** 40, windowMs: 86_400_000, burst: 2 ** 45 }), 0)
})

t.test('a huge cost saturates: no overflow, no NaN, the same state whatever its size', async (t) => {
  const params = { limit: 10, windowMs: 60_000, burst: 10 }
  for (const name of algorithmNames) {
    const algorithm = algorithms[name]
    const charged = algorithm.charge(undefined, 1_767_225_600_000, Number.MAX_SAFE_INTEGER, params)
    t.same(algorithm.charge(undefined, 1_767_225_600_000, 1e15, params), charged, name)
    t.ok(Number.isSafeInteger(charged.ttlMs) && charged.ttlMs <= MAX_HELD_PRODUCT / params.limit, `${name}: ttl ${charged.ttlMs}`)
    for (const value of encodeState(algorithm, charged.state).split(',')) t.ok(Number.isSafeInteger(Number(value)), `${name}: ${value}`)
  }
})
