import t from 'tap'
import fc from 'fast-check'
import { algorithmNames, algorithms } from '../../algorithms/index.js'
import { extremeParamsArb, paramsArb, scenarioArb } from '../support/algorithms.js'
import { refundProperties } from '../support/refunds.js'

// The refunds of every algorithm (the `count` option gives back the charge of a request that
// should not count): on ordinary traffic, on clocks that sometimes go backwards, and at the
// largest rates the plugin accepts.

for (const name of algorithmNames) {
  const algorithm = algorithms[name]
  t.test(name, async (t) => {
    for (const [title, property] of Object.entries(refundProperties)) {
      t.test(title, async () => {
        fc.assert(property(algorithm))
        fc.assert(property(algorithm, scenarioArb(paramsArb(algorithm), { jitter: true })))
        fc.assert(property(algorithm, scenarioArb(extremeParamsArb(algorithm))), { numRuns: 40 })
      })
    }
  })
}

// With other requests charged between a consume and its refund, a refund is exact in the
// total it gives back but not always in when: these are the two cases docs/algorithms.md names.

t.test('the windows and the log give back the newest units, as if the later request had been refunded', async (t) => {
  const { slidingLogAlgorithm: log } = await import('../../algorithms/index.js')
  const params = { limit: 3, windowMs: 1000, burst: 3 }
  const r = log.consume(undefined, 0, 1, params).state
  const x = log.consume(r, 500, 1, params).state
  const refunded = log.refund(x, 600, 1, params).state
  t.same(refunded, { t: 0, d: [0], c: [1] }, 'the entry at 500 is the one taken off')
  t.equal(log.consume(refunded, 1000, 3, params).decision.allowed, true, 'at 1000 the log is empty, where the exact answer holds the request at 500')
  const exact = log.consume(undefined, 500, 1, params).state
  t.equal(log.consume(exact, 1000, 3, params).decision.allowed, false)
})

t.test('a token bucket that would have been full in between gives back the refill that would have been lost', async (t) => {
  const { tokenBucketAlgorithm: bucket } = await import('../../algorithms/index.js')
  const params = { limit: 10, windowMs: 10_000, burst: 10 }
  // R takes 5 at 0; by 5000 the bucket is full again; X takes 5 at 5000; R is refunded at 5000
  const r = bucket.consume(undefined, 0, 5, params).state
  const x = bucket.consume(r, 5000, 5, params).state
  const refunded = bucket.refund(x, 5000, 5, params).state
  t.equal(refunded, undefined, 'full: the 5 tokens given back are capped at the burst')
  // without R the bucket was full from 0 on, wasting the refill, and X left 5
  const exact = bucket.consume(undefined, 5000, 5, params).decision
  t.equal(exact.remaining, 5)
  t.equal(bucket.consume(refunded, 5000, 10, params).decision.allowed, true, 'after the refund: 10 free, where the exact answer is 5')
})
