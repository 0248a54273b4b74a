import t from 'tap'
import { build, hit } from '../support/helpers.js'
import { ipIdentity, unmapIp } from '../../lib/request/identity.js'

const ok = async () => ({ ok: true })

t.test('IPv4 passes through; IPv6 is grouped by the subnet; IPv4-mapped IPv6 is unwrapped', async (t) => {
  t.equal(ipIdentity('203.0.113.9', 64), '203.0.113.9')
  t.equal(ipIdentity('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2::/64')
  t.equal(ipIdentity('2001:db8:1:2:ffff::1', 64), '2001:db8:1:2::/64', 'same /64, same identity')
  t.equal(ipIdentity('2001:db8:1:2:3:4:5:6', 48), '2001:db8:1::/48')
  t.equal(ipIdentity('2001:db8:1:2:3:4:5:6', 128), '2001:db8:1:2:3:4:5:6')
  t.equal(ipIdentity('::ffff:198.51.100.7', 64), '198.51.100.7')
  t.equal(ipIdentity('::ffff:c633:6407', 64), '198.51.100.7')
  t.equal(ipIdentity('not:an:ip', 64), 'not:an:ip', 'garbage is kept as its own identity')
  t.equal(unmapIp('::ffff:10.1.2.3'), '10.1.2.3')
  t.equal(unmapIp('::1'), '::1')
  t.equal(unmapIp('10.1.2.3'), '10.1.2.3')
  t.equal(unmapIp('zz:zz'), 'zz:zz')
})

t.test('request.ip honours trustProxy; X-Forwarded-For is ignored without it', async (t) => {
  const plain = await build()
  plain.app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  t.same(await hit(plain.app, '/r', 1, { 'x-forwarded-for': '1.1.1.1' }), [200])
  t.same(await hit(plain.app, '/r', 1, { 'x-forwarded-for': '2.2.2.2' }), [429], 'a spoofed header does not make a new client')

  const proxied = await build({}, { trustProxy: true })
  proxied.app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  t.same(await hit(proxied.app, '/r', 1, { 'x-forwarded-for': '1.1.1.1' }), [200])
  t.same(await hit(proxied.app, '/r', 1, { 'x-forwarded-for': '2.2.2.2' }), [200], 'behind a trusted proxy each client counts alone')
  t.same(await hit(proxied.app, '/r', 1, { 'x-forwarded-for': '1.1.1.1' }), [429])
})

t.test('IPv6 clients in one /64 share a bucket; ipv6Subnet changes the grouping', async (t) => {
  const grouped = await build({}, { trustProxy: true })
  grouped.app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  t.same(await hit(grouped.app, '/r', 1, { 'x-forwarded-for': '2001:db8::1' }), [200])
  t.same(await hit(grouped.app, '/r', 1, { 'x-forwarded-for': '2001:db8::2' }), [429])
  const single = await build({ ipv6Subnet: 128 }, { trustProxy: true })
  single.app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  t.same(await hit(single.app, '/r', 1, { 'x-forwarded-for': '2001:db8::1' }), [200])
  t.same(await hit(single.app, '/r', 1, { 'x-forwarded-for': '2001:db8::2' }), [200])
  t.same(await hit(single.app, '/r', 1, { 'x-forwarded-for': '::ffff:2001:db8' }), [200])
})

t.test('signed-in users get the user bucket, anonymous ones the IP bucket', async (t) => {
  const { app } = await build()
  app.addHook('onRequest', async (request) => {
    const id = request.headers['x-user']
    if (typeof id === 'string') (request as unknown as { user: { id: string } }).user = { id }
  })
  app.post('/upload', { config: { rateLimit: { ip: '1/min', user: '3/min' } } }, ok)
  const post = (user?: string) => app.inject({ method: 'POST', url: '/upload', headers: user === undefined ? {} : { 'x-user': user } })
  t.equal((await post()).statusCode, 200)
  t.equal((await post()).statusCode, 429, 'anonymous: 1/min')
  const codes = []
  for (let i = 0; i < 4; i++) codes.push((await post('alice')).statusCode)
  t.same(codes, [200, 200, 200, 429], 'alice: 3/min, not affected by the IP bucket')
  t.equal((await post('bob')).statusCode, 200, 'bob has his own bucket')
  const res = await post('bob')
  t.equal(res.headers['x-ratelimit-limit'], '3')
  t.same((await post('carol')).json(), { ok: true })
})

t.test('an anonymous request on a route with only a user limit is not limited', async (t) => {
  const { app } = await build()
  app.get('/me', { config: { rateLimit: { user: '1/min' } } }, async (request) => ({ limited: request.rateLimit !== undefined }))
  t.same(await hit(app, '/me', 3), [200, 200, 200])
  t.same((await app.inject('/me')).json(), { limited: false })
})

t.test('signed-in users on a route with only an ip limit are limited by IP', async (t) => {
  const { app } = await build({ user: () => 'u' })
  app.get('/r', { config: { rateLimit: { ip: '1/min' } } }, ok)
  t.same(await hit(app, '/r', 2), [200, 429])
})

t.test('a custom user resolver; numbers are ids; null and undefined mean anonymous', async (t) => {
  const ids: unknown[] = [42, 42, null, undefined]
  let i = 0
  const { app } = await build({ user: () => ids[i++] as string })
  app.get('/r', { config: { rateLimit: { user: '1/min', ip: '1/min' } } }, async (request) => request.rateLimit)
  const a = (await app.inject('/r')).json()
  t.equal(a.bucket, 'user')
  t.equal((await app.inject('/r')).statusCode, 429)
  t.equal((await app.inject('/r')).json().bucket, 'ip')
  t.equal((await app.inject('/r')).statusCode, 429)
})

t.test('a user resolver that throws or returns a non-identity is a coded 500', async (t) => {
  const values: Array<() => unknown> = [
    () => { throw new Error('token expired') },
    () => { throw 'plain string' }, // eslint-disable-line no-throw-literal
    () => ({ id: 1 }),
    () => Number.NaN,
    () => true
  ]
  let current = values[0]
  const { app } = await build({ user: () => current() as string })
  app.get('/r', { config: { rateLimit: { user: '5/min' } } }, ok)
  const expected = [
    ['FST_LIMITER_RESOLVER_FAILED', /^Route GET \/r: the user function threw \(its error is the cause\)$/],
    ['FST_LIMITER_RESOLVER_FAILED', /the user function threw \(its error is the cause\)$/],
    ['FST_LIMITER_INVALID_IDENTITY', /the user resolver returned \{"id":1\}/],
    ['FST_LIMITER_INVALID_IDENTITY', /returned NaN/],
    ['FST_LIMITER_INVALID_IDENTITY', /returned true/]
  ] as const
  for (let i = 0; i < values.length; i++) {
    current = values[i]
    const res = await app.inject('/r')
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, expected[i][0])
    t.match(res.json().message, expected[i][1])
  }
})

t.test('a key function picks a custom bucket; without a key the other limits apply', async (t) => {
  const { app } = await build()
  app.get('/partner', {
    config: { rateLimit: { key: (r) => r.headers['x-api-key'] as string | undefined, rate: '2/hour', ip: '1/hour' } }
  }, async (request) => request.rateLimit)
  const call = (key?: string) => app.inject({ url: '/partner', headers: key === undefined ? {} : { 'x-api-key': key } })
  t.equal((await call('k1')).json().bucket, 'key')
  t.equal((await call('k1')).statusCode, 200)
  t.equal((await call('k1')).statusCode, 429)
  t.equal((await call('k2')).statusCode, 200)
  t.equal((await call()).json().bucket, 'ip')
  t.equal((await call()).statusCode, 429)
})

t.test('a key function that throws is a coded 500', async (t) => {
  const { app } = await build()
  app.get('/k', { config: { rateLimit: { key: () => { throw new Error('no') }, rate: '1/s' } } }, ok)
  const res = await app.inject('/k')
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_LIMITER_RESOLVER_FAILED')
  t.match(res.json().message, 'the key function threw (its error is the cause)')
})
