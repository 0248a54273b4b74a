import t from 'tap'
import { parseList, parseItem } from 'structured-headers'
import { build } from '../support/helpers.js'

const ok = async () => ({ ok: true })

t.test('legacy headers (default): limit, remaining, reset in epoch seconds; Retry-After on 429', async (t) => {
  const { app, clock } = await build({ algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: '2/min' } }, ok)
  const first = await app.inject('/r')
  const windowEnd = (Math.floor(clock.now / 60_000) + 1) * 60_000
  t.equal(first.headers['x-ratelimit-limit'], '2')
  t.equal(first.headers['x-ratelimit-remaining'], '1')
  t.equal(first.headers['x-ratelimit-reset'], String(Math.ceil(windowEnd / 1000)))
  t.notOk(first.headers['retry-after'])
  await app.inject('/r')
  clock.advance(1_500)
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  t.equal(denied.headers['x-ratelimit-remaining'], '0')
  t.equal(denied.headers['retry-after'], String(Math.ceil((windowEnd - clock.now) / 1000)))
})

t.test('Retry-After rounds up to whole seconds', async (t) => {
  const { app, clock } = await build({ algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: '1/s' } }, ok)
  clock.now = 1_700_000_000_999 // 1 ms before the window ends
  await app.inject('/r')
  clock.now = 1_700_000_001_000 - 1_000 + 1 // 999 ms left
  const res = await app.inject('/r')
  t.equal(res.statusCode, 429)
  t.equal(res.headers['retry-after'], '1')
})

t.test('ietf headers: RateLimit-Policy and RateLimit structured fields (draft -10)', async (t) => {
  const { app, clock } = await build({ headers: 'ietf', algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: { ip: ['2/s', '100/hour'] } } }, ok)
  const res = await app.inject('/r')
  t.notOk(res.headers['x-ratelimit-limit'])
  const policy = parseList(res.headers['ratelimit-policy'] as string)
  t.same(policy.map(([name, params]) => [name, Object.fromEntries(params)]), [
    ['ip-2/s', { q: 2, w: 1 }],
    ['ip-100/hour', { q: 100, w: 3600 }]
  ])
  const [name, params] = parseItem(res.headers.ratelimit as string)
  t.equal(name, 'ip-2/s', 'the most restrictive bucket (lowest remaining)')
  t.equal(params.get('r'), 1)
  const windowEnd = (Math.floor(clock.now / 1000) + 1) * 1000
  t.equal(params.get('t'), Math.ceil((windowEnd - clock.now) / 1000))
  await app.inject('/r')
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  t.equal(parseItem(denied.headers.ratelimit as string)[1].get('r'), 0)
  t.equal(denied.headers['retry-after'], '1')
})

t.test('custom header names', async (t) => {
  const { app } = await build({ headers: { limit: 'x-limit', retryAfter: 'x-retry-in' } })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  const res = await app.inject('/r')
  t.equal(res.headers['x-limit'], '1')
  t.equal(res.headers['x-ratelimit-remaining'], '0', 'unnamed ones keep the legacy name')
  const denied = await app.inject('/r')
  t.ok(denied.headers['x-retry-in'])
  t.notOk(denied.headers['retry-after'])
})

t.test('headers: false sends none, even on a 429', async (t) => {
  const { app } = await build({ headers: false })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  t.notOk((await app.inject('/r')).headers['x-ratelimit-limit'])
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  t.notOk(denied.headers['retry-after'])
  t.notOk(denied.headers['x-ratelimit-limit'])
})

t.test('headers are written in onSend, so handler errors carry them too', async (t) => {
  const { app } = await build()
  app.get('/boom', { config: { rateLimit: '5/min' } }, async () => { throw new Error('handler failed') })
  const res = await app.inject('/boom')
  t.equal(res.statusCode, 500)
  t.equal(res.headers['x-ratelimit-remaining'], '4')
})

t.test('with several windows the headers describe the lowest remaining', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: { ip: ['3/s', '5/hour'] } } }, ok)
  const first = await app.inject('/r')
  t.equal(first.headers['x-ratelimit-limit'], '3')
  t.equal(first.headers['x-ratelimit-remaining'], '2')
})
