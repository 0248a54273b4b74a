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

t.test("a route's exempt replaces the plugin's on it; [] exempts nobody there (issue 20)", async (t) => {
  const { app } = await build({ exempt: ['127.0.0.1'] }, { trustProxy: true })
  app.get('/plugin', { config: { rateLimit: '1/min' } }, ok)
  app.get('/own', { config: { rateLimit: { ip: '1/min', exempt: ['10.0.0.0/8'] } } }, ok)
  app.get('/nobody', { config: { rateLimit: { ip: '1/min', exempt: [] } } }, ok)
  const from = (url: string, ip: string) => hit(app, url, 2, { 'x-forwarded-for': ip })
  t.same(await from('/plugin', '127.0.0.1'), [200, 200])
  t.same(await from('/plugin', '10.1.1.1'), [200, 429])
  t.same(await from('/own', '10.1.1.1'), [200, 200], "the route's list")
  t.same(await from('/own', '127.0.0.1'), [200, 429], "the plugin's list does not apply there")
  t.same(await from('/nobody', '127.0.0.1'), [200, 429])
  t.same((await app.inject({ url: '/own', headers: { 'x-forwarded-for': '10.2.2.2' } })).json(), { limited: false })
})

t.test('an exempt function on a route, and on the global limit and a hook() limit', async (t) => {
  const internal = async (request: { headers: Record<string, unknown> }) => request.headers['x-internal'] === 'yes'
  const { app } = await build({ global: { ip: '1/min', exempt: internal } })
  app.get('/route', { config: { rateLimit: { ip: '1/min', exempt: internal } } }, ok)
  app.get('/global', ok)
  app.get('/hook', { config: { rateLimit: false }, onRequest: app.rateLimit.hook({ ip: '1/min', exempt: internal }) }, ok)
  for (const url of ['/route', '/global', '/hook']) {
    t.same(await hit(app, url, 2, { 'x-internal': 'yes' }), [200, 200], url)
    t.same(await hit(app, url, 2), [200, 429], url)
  }
})
