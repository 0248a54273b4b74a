import t from 'tap'
import { build } from '../support/helpers.js'

const ok = async (request: { rateLimit: unknown }) => request.rateLimit

t.test('a static cost charges that many units', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.post('/export', { config: { rateLimit: { ip: '25/hour', cost: 10 } } }, ok)
  const codes = []
  for (let i = 0; i < 3; i++) codes.push((await app.inject({ method: 'POST', url: '/export' })).statusCode)
  t.same(codes, [200, 200, 429])
})

t.test('a cost function of the request', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.get('/q', { config: { rateLimit: { ip: '10/min', cost: (r) => Number((r.query as { n: string }).n) } } }, ok)
  t.equal((await app.inject('/q?n=7')).json().remaining, 3)
  t.equal((await app.inject('/q?n=4')).statusCode, 429, '7 + 4 > 10')
  t.equal((await app.inject('/q?n=3')).json().remaining, 0, 'the denial consumed nothing')
})

t.test('a cost function returning a bad cost is a coded error, counted at cost 1, never a refund', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  let value: unknown = 0
  app.get('/q', { config: { rateLimit: { ip: '10/min', cost: () => value as number } } }, ok)
  for (const bad of [0, -5, Number.NaN, 1.5, 11, Infinity, '3', undefined]) {
    value = bad
    const res = await app.inject('/q')
    t.equal(res.statusCode, 500, String(bad))
    t.equal(res.json().code, 'FST_LIMITER_INVALID_COST')
    t.match(res.json().message, /^Route GET \/q: cost returned .*; expected an integer from 1 to 10$/)
  }
  // issue 14: a request whose cost cannot be computed is still counted, at cost 1 (8 of 10 used)
  value = 2
  t.equal((await app.inject('/q')).statusCode, 200, 'each bad call was charged 1, none refunded')
  value = 1
  t.equal((await app.inject('/q')).statusCode, 429, 'the bucket is full')
})

t.test('a cost function that throws is a coded error', async (t) => {
  const { app } = await build()
  app.get('/q', { config: { rateLimit: { ip: '10/min', cost: () => { throw new Error('no cost') } } } }, ok)
  app.get('/t', { config: { rateLimit: { ip: '10/min', cost: () => { throw 'text' } } } }, ok) // eslint-disable-line no-throw-literal
  const res = await app.inject('/q')
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_LIMITER_RESOLVER_FAILED')
  t.match((await app.inject('/t')).json().message, /the cost function threw \(its error is the cause\)$/)
})
