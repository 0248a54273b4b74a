import t from 'tap'
import { build, hit } from '../support/helpers.js'

const ok = async (request: { rateLimit: unknown }) => ({ limited: request.rateLimit !== undefined })

t.test('exempt IPs and CIDRs, IPv4 and IPv6, skip limits entirely', async (t) => {
  const { app } = await build({ exempt: ['127.0.0.1', '10.0.0.0/8', '2001:db8::/32', '::2'] }, { trustProxy: true })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  const from = (ip: string) => hit(app, '/r', 2, { 'x-forwarded-for': ip })
  t.same(await from('127.0.0.1'), [200, 200])
  t.same(await from('10.20.30.40'), [200, 200])
  t.same(await from('::ffff:10.1.1.1'), [200, 200], 'IPv4-mapped IPv6 matches its IPv4 CIDR')
  t.same(await from('2001:db8:ffff::1'), [200, 200])
  t.same(await from('::2'), [200, 200])
  t.same(await from('11.0.0.1'), [200, 429])
  t.same(await from('2001:db9::1'), [200, 429])
  t.same(await from('garbage'), [200, 429], 'a non-IP is never exempt')
  const res = await app.inject({ url: '/r', headers: { 'x-forwarded-for': '127.0.0.1' } })
  t.same(res.json(), { limited: false })
  t.notOk(res.headers['x-ratelimit-limit'], 'no headers for exempt requests')
})

t.test('an empty list exempts nobody', async (t) => {
  const { app } = await build({ exempt: [] })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  t.same(await hit(app, '/r', 2), [200, 429])
})

t.test('an exempt function', async (t) => {
  const { app } = await build({ exempt: (request) => request.headers['x-internal'] === 'yes' })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  t.same(await hit(app, '/r', 3, { 'x-internal': 'yes' }), [200, 200, 200])
  t.same(await hit(app, '/r', 2), [200, 429])
})

t.test('an exempt function that throws is a 500, not a pass', async (t) => {
  const { app } = await build({ exempt: () => { throw new Error('exempt broke') } })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  const res = await app.inject('/r')
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_LIMITER_RESOLVER_FAILED')
  t.equal(res.json().message, 'Route GET /r: the exempt function threw (its error is the cause)')
})
