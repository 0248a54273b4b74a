import t from 'tap'
import fc from 'fast-check'
import { gcraAlgorithm, leakyBucketAlgorithm, tokenBucketAlgorithm } from '../../algorithms/index.js'
import { expect, extremeParamsArb, paramsArb, replay, scenarioArb } from '../support/algorithms.js'
import type { Scenario } from '../support/algorithms.js'

// Three states, three sets of arithmetic, one bucket: with the same rate and burst they must
// agree on every field of every decision, and on how long the state must be kept.
const buckets = [tokenBucketAlgorithm, leakyBucketAlgorithm, gcraAlgorithm]

function agree (scenario: Scenario): void {
  const [first, ...others] = buckets.map((algorithm) =>
    replay(algorithm, scenario).map(({ result: { decision, ttlMs } }) => JSON.stringify({ decision, ttlMs })))
  for (const [i, other] of others.entries()) {
    first.forEach((expected, j) => {
      expect(other[j] === expected, `${buckets[i + 1].name}, request ${j}: ${other[j]}, token bucket ${expected}`)
    })
  }
}

t.test('token bucket, leaky bucket and GCRA decide every sequence identically', async () => {
  fc.assert(fc.property(scenarioArb(paramsArb(tokenBucketAlgorithm)), agree))
})

t.test('and still at the largest rates and bursts', async () => {
  fc.assert(fc.property(scenarioArb(extremeParamsArb(tokenBucketAlgorithm)), agree))
})

t.test('a burst of `burst` passes at once, then L per W', async (t) => {
  // 3 per second with a burst of 5: 5 at once, then one every 333.33 ms
  const params = { limit: 3, windowMs: 1000, burst: 5 }
  const start = 1_800_000_000_000
  const requests = [...Array(6).fill({ dt: 0, cost: 1 }), { dt: 333, cost: 1 }, { dt: 1, cost: 1 }, { dt: 333, cost: 1 }]
  for (const algorithm of buckets) {
    const steps = replay(algorithm, { params, start, requests })
    t.same(steps.map((s) => s.result.decision.allowed), [true, true, true, true, true, false, false, true, true], algorithm.name)
    // after five at once: one token comes back at +333.33 ms, so the sixth may retry at +334
    t.equal(steps[5].result.decision.retryAfterMs, 334, algorithm.name)
    t.equal(steps[4].result.decision.resetMs, start + 1667, algorithm.name)
  }
})
