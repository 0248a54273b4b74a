import t from 'tap'
import { build, hit } from '../support/helpers.js'
import { MemoryStore } from '../../index.js'

const ok = async () => ({ ok: true })

t.test('reset(request) after a successful login forgets the buckets that request was counted in', async (t) => {
  const { app } = await build()
  app.post('/login', { config: { rateLimit: { ip: ['3/min', '10/hour'] } } }, async (request, reply) => {
    if ((request.body as { password: string }).password !== 'right') return reply.code(401).send({ ok: false })
    return { ok: true }
  })
  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.url === '/login' && reply.statusCode === 200) await app.rateLimit.reset(request)
  })
  const login = (password: string) => app.inject({ method: 'POST', url: '/login', payload: { password } })
  t.equal((await login('wrong')).statusCode, 401)
  t.equal((await login('wrong')).statusCode, 401)
  t.equal((await login('right')).statusCode, 200)
  const after = await login('wrong')
  t.equal(after.headers['x-ratelimit-remaining'], '2', 'counting started over')
})

t.test('reset(request) where the limiter did not run works out the buckets from the route', async (t) => {
  const { app } = await build({ exempt: (r) => r.headers['x-skip'] === '1' })
  app.get('/r', { config: { rateLimit: '1/min' } }, async (request) => {
    if (request.headers['x-reset'] === '1') await app.rateLimit.reset(request)
    return 'ok'
  })
  app.get('/unlimited', async (request) => {
    await app.rateLimit.reset(request)
    return 'ok'
  })
  app.setNotFoundHandler(async (request, reply) => {
    await app.rateLimit.reset(request)
    return reply.code(404).send('none')
  })
  t.same(await hit(app, '/r', 2), [200, 429])
  t.same(await hit(app, '/r', 1, { 'x-skip': '1', 'x-reset': '1' }), [200])
  t.same(await hit(app, '/r', 1), [200], 'the exempt request reset the client\'s bucket')
  t.same(await hit(app, '/unlimited', 1), [200], 'nothing to reset is fine')
  t.same(await hit(app, '/missing', 1), [404], 'nor on a request that matched no route')
})

t.test('reset(selector) by ip, user, key, route and group', async (t) => {
  const { app } = await build({ user: (r) => r.headers['x-user'] as string | undefined })
  app.get('/a', { config: { rateLimit: { ip: '1/min', user: '1/min' } } }, ok)
  app.get('/b', { config: { rateLimit: { ip: '1/min', group: 'bees' } } }, ok)
  app.get('/k', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string, rate: '1/min' } } }, ok)
  await hit(app, '/a', 1)
  await hit(app, '/b', 1)
  await hit(app, '/a', 1, { 'x-user': '7' })
  await hit(app, '/k', 1, { 'x-key': 'abc' })
  t.same(await hit(app, '/a', 1), [429])
  await app.rateLimit.reset({ route: 'GET /a', ip: '127.0.0.1' })
  t.same(await hit(app, '/a', 1), [200], 'route + ip')
  t.same(await hit(app, '/b', 1), [429], 'other routes untouched')
  await app.rateLimit.reset({ route: 'bees', ip: '127.0.0.1' })
  t.same(await hit(app, '/b', 1), [200], 'group + ip')
  await app.rateLimit.reset({ ip: '127.0.0.1' })
  t.same([...await hit(app, '/a', 1), ...await hit(app, '/b', 1)], [200, 200], 'ip on every route')
  t.same(await hit(app, '/a', 1, { 'x-user': '7' }), [429])
  await app.rateLimit.reset({ user: 7 })
  t.same(await hit(app, '/a', 1, { 'x-user': '7' }), [200], 'user (a number is an id)')
  await app.rateLimit.reset({ route: '/k', key: 'abc' })
  t.same(await hit(app, '/k', 1, { 'x-key': 'abc' }), [200], 'url + key')
})

t.test('reset(selector) checks its input', async (t) => {
  const { app } = await build()
  app.get('/a', { config: { rateLimit: '1/min' } }, ok)
  const cases: Array<[unknown, string, RegExp]> = [
    [{}, 'FST_LIMITER_INVALID_SELECTOR', /name at least one of ip, user or key/],
    [{ route: 'GET /a' }, 'FST_LIMITER_INVALID_SELECTOR', /name at least one/],
    [{ ip: '' }, 'FST_LIMITER_INVALID_SELECTOR', /ip must be a non-empty string, received ''$/],
    [{ ip: 5 }, 'FST_LIMITER_INVALID_SELECTOR', /ip must be a non-empty string, received 5$/],
    [{ user: {} }, 'FST_LIMITER_INVALID_SELECTOR', /user must be a non-empty string or a finite number/],
    [{ key: Number.NaN }, 'FST_LIMITER_INVALID_SELECTOR', /key must be/],
    [{ ip: '1.1.1.1', who: 1 }, 'FST_LIMITER_INVALID_SELECTOR', /unknown field 'who'/],
    [{ route: 'GET /nope', ip: '1.1.1.1' }, 'FST_LIMITER_UNKNOWN_ROUTE', /no rate-limited route or group 'GET \/nope'/],
    [null, 'FST_LIMITER_INVALID_SELECTOR', /expected a request or/],
    ['1.1.1.1', 'FST_LIMITER_INVALID_SELECTOR', /received '1\.1\.1\.1'/]
  ]
  for (const [selector, code, message] of cases) {
    const err = await app.rateLimit.reset(selector as never).then(() => undefined, (e) => e)
    t.equal(err?.code, code, JSON.stringify(selector))
    t.match(err?.message, message)
  }
})

t.test('clear() forgets everything; stats() reports counters and the store', async (t) => {
  const { app } = await build()
  app.get('/a', { config: { rateLimit: '1/min' } }, ok)
  await hit(app, '/a', 3)
  const stats = await app.rateLimit.stats()
  t.match(stats, { allowed: 1, denied: 2, dryRunDenied: 0, storeErrors: 0, store: { keys: 1 } })
  await app.rateLimit.clear()
  t.match((await app.rateLimit.stats()).store, { keys: 0 })
  t.same(await hit(app, '/a', 1), [200])
})

t.test('store is the store in use', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const { app } = await build({ store })
  t.equal(app.rateLimit.store, store)
  const plain = await build()
  t.type(plain.app.rateLimit.store, MemoryStore)
})

t.test('hook(limit) limits routes and handlers outside config, per route', async (t) => {
  const { app } = await build()
  const limit = app.rateLimit.hook('1/min')
  app.get('/x', { onRequest: limit }, ok)
  app.get('/y', { preHandler: limit }, ok)
  app.setNotFoundHandler({ preHandler: app.rateLimit.hook('2/min') }, async (request, reply) => reply.code(404).send({ missing: true }))
  t.same(await hit(app, '/x', 2), [200, 429])
  t.same(await hit(app, '/y', 2), [200, 429], 'each route has its own buckets')
  t.same(await hit(app, '/nope', 3), [404, 404, 429], 'the not-found handler is limited')
  const res = await app.inject('/nope')
  t.ok(res.headers['retry-after'])
  await app.rateLimit.reset({ route: 'GET /x', ip: '127.0.0.1' })
  t.same(await hit(app, '/x', 1), [200], 'hook routes can be reset by route')
})

t.test('hook(limit) with a group shares one bucket; bad limits fail at once', async (t) => {
  const { app } = await build()
  const shared = app.rateLimit.hook({ ip: '1/min', group: 'g' })
  app.get('/p', { onRequest: shared }, ok)
  app.get('/q', { onRequest: shared }, ok)
  t.same([...await hit(app, '/p', 1), ...await hit(app, '/q', 1)], [200, 429])
  await app.rateLimit.reset({ route: 'g', ip: '127.0.0.1' })
  t.same(await hit(app, '/q', 1), [200])
  t.throws(() => app.rateLimit.hook('1/fortnight' as never), { code: 'FST_LIMITER_INVALID_RATE' })
  t.throws(() => app.rateLimit.hook(false as never), { code: 'FST_LIMITER_INVALID_ROUTE_CONFIG' })
})

t.test('a limit registered twice on one request counts once', async (t) => {
  const { app } = await build()
  const limit = app.rateLimit.hook({ ip: '2/min', group: 'once' })
  app.get('/twice', { onRequest: [limit, limit] }, ok)
  t.same(await hit(app, '/twice', 3), [200, 200, 429])
})

t.test('a route limit and a hook limit both apply; request.rateLimit is the last decision', async (t) => {
  const { app } = await build()
  app.get('/both', { config: { rateLimit: '5/min' }, preHandler: app.rateLimit.hook('2/min') }, async (request) => request.rateLimit)
  const res = await app.inject('/both')
  t.equal(res.json().limit, 2)
  t.same(await hit(app, '/both', 2), [200, 429])
})

t.test('reset(request) resets the buckets of every limit that ran on it', async (t) => {
  const { app } = await build()
  app.get('/both', { config: { rateLimit: '2/min' }, preHandler: app.rateLimit.hook('3/min') }, async (request) => {
    if (request.headers['x-reset'] === '1') await app.rateLimit.reset(request)
    return request.rateLimit
  })
  await hit(app, '/both', 1)
  await hit(app, '/both', 1, { 'x-reset': '1' })
  const res = await app.inject('/both')
  t.equal(res.headers['x-ratelimit-remaining'], '2', 'the hook limit (3/min) started over')
  t.same(await hit(app, '/both', 2), [200, 429], 'the route limit (2/min) started over too')
})
