import t from 'tap'
import fc from 'fast-check'
import { algorithmNames, algorithms } from '../../../algorithms/index.js'
import { MemoryStore } from '../../../stores/memory.js'
import { RedisStore } from '../../../stores/redis.js'
import type { StoreBucket } from '../../../stores/store.js'
import { decodeState, encodeState } from '../../../algorithms/encoding.js'
import { expect, extremeParamsArb, paramsArb, replay, scenarioArb as singleWindowArb } from '../../support/algorithms.js'
import { agreement, fields, refundAgreement, refundScenarioArb, scenarioArb } from '../../support/agreement.js'
import { connect, redisAvailable, startRedis } from '../../support/redis.js'

// The core proof of the Redis store: on random traffic, the Lua twins running inside a real
// redis-server decide exactly as the TypeScript algorithms in the memory store — every field
// of every decision, for one to three windows per request, at ordinary and extreme rates,
// with clocks that sometimes go backwards (another app server).

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const client = connect(t, server.port)
  const store = new RedisStore({ client, keyPrefix: 'agree:' })
  const agree = agreement((buckets, cost, now) => store.consume(buckets, cost, now))

  for (const name of algorithmNames) {
    t.test(`${name}: the Lua twin decides as the TypeScript algorithm`, async (t) => {
      await fc.assert(fc.asyncProperty(scenarioArb([name], paramsArb), agree), { numRuns: 60 })
      t.pass('ordinary rates')
      await fc.assert(fc.asyncProperty(scenarioArb([name], extremeParamsArb), agree), { numRuns: 20 })
      t.pass('rates at the largest the plugin accepts (4 * L * W near 2^53, burst up to 1000 L)')
    })
  }

  const consume = (buckets: StoreBucket[], cost: number, now: number) => store.consume(buckets, cost, now)
  const refund = (buckets: StoreBucket[], cost: number, now: number) => store.refund(buckets, cost, now)
  const peek = (buckets: StoreBucket[], cost: number, now: number) => store.peek(buckets, cost, now)
  const charge = (buckets: StoreBucket[], cost: number, now: number) => store.charge(buckets, cost, now)
  const refundsAgree = refundAgreement(consume, { refund, peek })
  const chargesAgree = refundAgreement(consume, { refund, peek, charge })
  for (const name of algorithmNames) {
    t.test(`${name}: the Lua twin of the refund, and the peek script, decide as the TypeScript`, async (t) => {
      await fc.assert(fc.asyncProperty(refundScenarioArb([name], paramsArb), refundsAgree), { numRuns: 60 })
      t.pass('ordinary rates')
      await fc.assert(fc.asyncProperty(refundScenarioArb([name], extremeParamsArb), refundsAgree), { numRuns: 20 })
      t.pass('rates at the largest the plugin accepts')
    })
  }

  for (const name of algorithmNames) {
    t.test(`${name}: the Lua twin of the charge decides as the TypeScript, with consumes, refunds and debt mixed`, async (t) => {
      await fc.assert(fc.asyncProperty(refundScenarioArb([name], paramsArb), chargesAgree), { numRuns: 60 })
      t.pass('ordinary rates')
      await fc.assert(fc.asyncProperty(refundScenarioArb([name], extremeParamsArb), chargesAgree), { numRuns: 20 })
      t.pass('rates at the largest the plugin accepts')
    })
  }

  t.test('charges of windows with different algorithms run in one script and still agree', async (t) => {
    await fc.assert(fc.asyncProperty(refundScenarioArb(algorithmNames, paramsArb), chargesAgree), { numRuns: 60 })
    t.pass('mixed algorithms')
  })

  t.test('refunds of windows with different algorithms run in one script and still agree', async (t) => {
    await fc.assert(fc.asyncProperty(refundScenarioArb(algorithmNames, paramsArb), refundsAgree), { numRuns: 60 })
    t.pass('mixed algorithms')
  })

  t.test('windows of one request with different algorithms run in one script and still agree', async (t) => {
    await fc.assert(fc.asyncProperty(scenarioArb(algorithmNames, paramsArb), agree), { numRuns: 60 })
    t.pass('mixed algorithms')
  })

  t.test('on the server clock, decisions match the TypeScript algorithm at the time Redis reports', async (t) => {
    const memory = new MemoryStore()
    t.teardown(() => memory.close())
    for (const name of algorithmNames) {
      const buckets: StoreBucket[] = [
        { key: `{server-clock}:${name}:a`, algorithm: algorithms[name], params: { limit: 3, windowMs: 1000, burst: 3 } },
        { key: `{server-clock}:${name}:b`, algorithm: algorithms[name], params: { limit: 5, windowMs: 60_000, burst: 5 } }
      ]
      for (let i = 0; i < 6; i++) {
        const actual = await store.consume(buckets, 1)
        t.ok(Math.abs(actual.now - Date.now()) < 5000, 'decided on the server clock, close to ours')
        t.equal(fields(actual), fields(memory.consume(buckets, 1, actual.now)), `${name}, request ${i}`)
      }
    }
  })

  t.test('the twins keep each state in the text form the SQLite store writes (algorithms/encoding.ts)', async (t) => {
    const texts = new RedisStore({ client, keyPrefix: 'text:' })
    let run = 0
    for (const name of algorithmNames) {
      const algorithm = algorithms[name]
      await fc.assert(fc.asyncProperty(singleWindowArb(paramsArb(algorithm), { jitter: true }), async (scenario) => {
        const bucket: StoreBucket = { key: `{${++run}}`, algorithm, params: scenario.params }
        let stored: string | null = null
        for (const [i, { now, cost, result }] of replay(algorithm, scenario).entries()) {
          await texts.consume([bucket], cost, now)
          if (result.decision.allowed) {
            const text = encodeState(algorithm, result.state as object)
            expect(JSON.stringify(decodeState(algorithm, text)) === JSON.stringify(result.state), `request ${i}: ${text} reads back otherwise`)
            stored = `${now + result.ttlMs},${text}`
          }
          // a denied request writes nothing, and an expired key keeps its text until Redis drops it
          const raw = await client.get(`text:${bucket.key}`)
          expect(raw === stored, `request ${i}: Redis holds ${raw}, expected ${stored}`)
        }
      }), { numRuns: 30 })
      t.pass(name)
    }
  })
}
