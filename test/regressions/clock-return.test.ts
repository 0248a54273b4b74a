// Issue 14, item 4 (the clock part): `clock: () => NaN` made every request a 429 with NaN
// headers, `() => -1e300` let everything through. The clock's return is checked each time it
// is read; a value that is not integer epoch ms from 0 to 8.64e15 is a store error: logged with
// FST_LIMITER_INVALID_CLOCK, and the request follows onStoreError.
import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import limiter from '../../index.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { hit } from '../support/helpers.js'

async function limited (t: Test, clock: () => number, options: FastifyLimiterOptions = {}) {
  const lines: Array<Record<string, any>> = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
  t.teardown(() => app.close())
  await app.register(limiter, { clock, ...options })
  app.get('/r', { config: { rateLimit: '2/min' } }, async () => 'ok')
  return { app, lines }
}

const bad: Array<[string, unknown]> = [
  ['NaN', Number.NaN],
  ['-1e300', -1e300],
  ['-1', -1],
  ['1.5', 1.5],
  ['Infinity', Infinity],
  ['past 8.64e15', 8.64e15 + 1],
  ['a string', '1700000000000'],
  ['undefined', undefined]
]

for (const [name, value] of bad) {
  t.test(`a clock returning ${name} is a store error; 'fallback' decides on the local store at Date.now`, async (t) => {
    const { app, lines } = await limited(t, () => value as number)
    const res = await app.inject('/r')
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-ratelimit-remaining'], '1')
    t.match(Number(res.headers['x-ratelimit-reset']), Number, 'a real number')
    t.ok(Math.abs(Number(res.headers['x-ratelimit-reset']) * 1000 - Date.now()) < 120_000, 'near the real time')
    t.same(await hit(app, '/r', 2), [200, 429], 'the local store limits exactly')
    t.equal(lines[0]?.err?.code, 'FST_LIMITER_INVALID_CLOCK')
    t.match((await app.rateLimit.stats()), { storeErrors: 3, degraded: 3 })
  })
}

t.test("'deny' answers 503 and 'allow' lets through without a decision", async (t) => {
  const deny = await limited(t, () => Number.NaN, { onStoreError: 'deny' })
  t.same(await hit(deny.app, '/r', 3), [503, 503, 503])
  const allow = await limited(t, () => -1e300, { onStoreError: 'allow' })
  const res = await allow.app.inject('/r')
  t.equal(res.statusCode, 200)
  t.notOk(res.headers['x-ratelimit-limit'])
})

t.test('a clock that throws is a store error with its own cause; a good reading again decides as usual', async (t) => {
  let value: unknown = new Error('clock broke')
  const { app, lines } = await limited(t, () => {
    if (value instanceof Error) throw value
    return value as number
  }, { onStoreError: 'deny' })
  t.same(await hit(app, '/r', 1), [503])
  t.match(lines[0], { err: { message: 'clock broke' } })
  value = Number.NaN
  t.same(await hit(app, '/r', 6), [503, 503, 503, 503, 503, 503])
  value = 1_700_000_000_000
  t.same(await hit(app, '/r', 3), [200, 200, 429], 'bad readings never opened the breaker: the store decides at once')
})
