import t from 'tap'
import fc from 'fast-check'
import { banGateAlgorithm, banStrike } from '../../../algorithms/ban.js'
import { encodeState } from '../../../algorithms/encoding.js'
import { fixedWindowAlgorithm } from '../../../algorithms/index.js'
import type { BanRule } from '../../../lib/core/algorithm.js'
import { MemoryStore } from '../../../stores/memory.js'
import { RedisStore } from '../../../stores/redis.js'
import type { StoreBucket } from '../../../stores/store.js'
import { connect, redisAvailable, startRedis } from '../../support/redis.js'

// The proof of the ban's Lua twins (algorithms/ban.ts): on random strike sequences, the strike
// script and the gate twin inside a real redis-server decide bit for bit as the TypeScript
// functions in the memory store (every until, every started, every gate decision), and keep
// the state in the text form the SQLite store writes.

const ruleArb: fc.Arbitrary<BanRule> = fc.record({
  after: fc.integer({ min: 1, max: 5 }),
  forMs: fc.integer({ min: 1, max: 31_536_000_000 }),
  backoffMilli: fc.integer({ min: 1000, max: 100_000 }),
  maxMs: fc.integer({ min: 0, max: 31_536_000_000 }),
  windowMs: fc.integer({ min: 1, max: 31_536_000_000 })
}).map((r) => ({ ...r, maxMs: Math.max(r.forMs, r.maxMs) }))

const scenarioArb = fc.record({
  rule: ruleArb,
  start: fc.integer({ min: 0, max: 4_000_000_000_000 }),
  // mostly short steps (strikes within a window, re-offences during and after bans), some long
  steps: fc.array(fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 40_000_000_000 })), { minLength: 1, maxLength: 25 })
})

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const client = connect(t, server.port)
  const store = new RedisStore({ client, keyPrefix: 'ban-agree:' })
  let run = 0

  t.test('the strike script and the gate twin decide as banStrike and banGate', async (t) => {
    await fc.assert(fc.asyncProperty(scenarioArb, async ({ rule, start, steps }) => {
      const memory = new MemoryStore()
      try {
        const id = `{${++run}}`
        const gated: StoreBucket[] = [
          { key: `${id}:ban`, algorithm: banGateAlgorithm, params: { limit: 3, windowMs: 1000, burst: 3 } },
          { key: `${id}:fw`, algorithm: fixedWindowAlgorithm, params: { limit: 1_000_000, windowMs: 1000, burst: 1_000_000 } }
        ]
        let now = start
        for (const dt of steps) {
          now += dt
          const expected = memory.strike(`${id}:ban`, rule, now)
          const actual = await store.strike(`${id}:ban`, rule, now)
          if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`strike at ${now}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`)
          const gate = JSON.stringify(memory.peek(gated, 1, now))
          const redisGate = JSON.stringify(await store.peek(gated, 1, now))
          if (gate !== redisGate) throw new Error(`gate at ${now}: ${redisGate} != ${gate}`)
        }
      } finally {
        memory.close()
      }
    }), { numRuns: 150 })
    t.pass('agreed')
  })

  t.test('the strike script keeps the state in the text form of algorithms/encoding.ts', async (t) => {
    const rule: BanRule = { after: 2, forMs: 10_000, backoffMilli: 1500, maxMs: 100_000, windowMs: 60_000 }
    const now = 1_700_000_000_000
    await store.strike('{text}:ban', rule, now)
    const second = await store.strike('{text}:ban', rule, now + 5)
    t.same(second, { until: now + 5 + 10_000, started: true })
    const expected = banStrike(banStrike(undefined, now, rule).state, now + 5, rule)
    const raw = await client.call('get', 'ban-agree:{text}:ban') as string
    t.equal(raw, `${now + 5 + expected.ttlMs},${encodeState(banGateAlgorithm, expected.state as object)}`)
  })

  t.test("a store with a clock strikes at the clock's time when no now is given", async (t) => {
    const clocked = new RedisStore({ client, keyPrefix: 'ban-clock:', clock: () => 1_700_000_000_000 })
    const rule: BanRule = { after: 1, forMs: 60_000, backoffMilli: 1000, maxMs: 60_000, windowMs: 1000 }
    t.same(await clocked.strike('{clocked}:ban', rule), { until: 1_700_000_060_000, started: true })
  })

  t.test('on the server clock, a strike decides at the time Redis reports and the gate reads it', async (t) => {
    const rule: BanRule = { after: 1, forMs: 60_000, backoffMilli: 1000, maxMs: 60_000, windowMs: 1000 }
    const before = Date.now()
    const strike = await store.strike('{server-clock}:ban', rule)
    t.ok(strike.started)
    t.ok(Math.abs(strike.until - 60_000 - before) < 5000, 'until: the server time plus the ban')
    const d = await store.consume([
      { key: '{server-clock}:ban', algorithm: banGateAlgorithm, params: { limit: 3, windowMs: 1000, burst: 3 } },
      { key: '{server-clock}:fw', algorithm: fixedWindowAlgorithm, params: { limit: 3, windowMs: 1000, burst: 3 } }
    ], 1)
    t.same([d.allowed, d.index, d.resetMs], [false, 0, strike.until], 'the gate denies until the ban ends')
  })
}
