import t from 'tap'
import fc from 'fast-check'
import { banGateAlgorithm, banStrike } from '../../../algorithms/ban.js'
import { encodeState } from '../../../algorithms/encoding.js'
import { fixedWindowAlgorithm } from '../../../algorithms/index.js'
import type { BanRule } from '../../../lib/core/algorithm.js'
import { RedisStore } from '../../../stores/redis.js'
import { banAgreement, banScenarioArb } from '../../support/ban-agreement.js'
import { connect, redisAvailable, startRedis } from '../../support/redis.js'

// The proof of the ban's Lua twins (algorithms/ban.ts): on random strike sequences, the strike
// script and the gate twin inside a real redis-server decide bit for bit as the TypeScript
// functions in the memory store (every until, every started, every gate decision), and keep
// the state in the text form the SQLite store writes.

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const client = connect(t, server.port)
  const store = new RedisStore({ client, keyPrefix: 'ban-agree:' })

  t.test('the strike script and the gate twin decide as banStrike and banGate, with and without extend', async (t) => {
    await fc.assert(fc.asyncProperty(banScenarioArb, banAgreement({
      strike: async (key, rule, now) => await store.strike(key, rule, now),
      peek: async (buckets, cost, now) => await store.peek(buckets, cost, now)
    })), { numRuns: 150 })
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
