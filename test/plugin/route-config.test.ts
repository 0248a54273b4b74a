import t from 'tap'
import { build, hit, thrown } from '../support/helpers.js'

const ok = async () => ({ ok: true })

t.test('shorthand string limits the client IP', async (t) => {
  const { app } = await build()
  app.get('/feed', { config: { rateLimit: '2/min' } }, ok)
  t.same(await hit(app, '/feed', 3), [200, 200, 429])
  const res = await app.inject('/feed')
  t.equal(res.headers['x-ratelimit-limit'], '2')
})

t.test('routes without config are not limited (no global)', async (t) => {
  const { app } = await build()
  app.get('/free', ok)
  t.same(await hit(app, '/free', 5), [200, 200, 200, 200, 200])
  const res = await app.inject('/free')
  t.notOk(res.headers['x-ratelimit-limit'])
})

t.test('false opts a route out of global', async (t) => {
  const { app } = await build({ global: '1/min' })
  app.get('/health', { config: { rateLimit: false } }, ok)
  app.get('/other', ok)
  t.same(await hit(app, '/health', 3), [200, 200, 200])
  t.same(await hit(app, '/other', 2), [200, 429])
})

t.test('global is one shared bucket per identity across routes', async (t) => {
  const { app } = await build({ global: '2/min' })
  app.get('/a', ok)
  app.get('/b', ok)
  t.same([...await hit(app, '/a', 1), ...await hit(app, '/b', 1), ...await hit(app, '/a', 1)], [200, 200, 429])
})

t.test('a route config replaces global', async (t) => {
  const { app } = await build({ global: '1/min' })
  app.get('/own', { config: { rateLimit: '3/min' } }, ok)
  t.same(await hit(app, '/own', 4), [200, 200, 200, 429])
})

t.test('routes with the same group share buckets', async (t) => {
  const { app } = await build()
  app.get('/x', { config: { rateLimit: { ip: '2/min', group: 'reads' } } }, ok)
  app.get('/y', { config: { rateLimit: { ip: '2/min', group: 'reads' } } }, ok)
  t.same([...await hit(app, '/x', 1), ...await hit(app, '/y', 1), ...await hit(app, '/x', 1)], [200, 200, 429])
})

t.test('different routes have separate buckets; HEAD shares GET', async (t) => {
  const { app } = await build()
  app.get('/p', { config: { rateLimit: '1/min' } }, ok)
  app.get('/q', { config: { rateLimit: '1/min' } }, ok)
  t.same([...await hit(app, '/p', 1), ...await hit(app, '/q', 1)], [200, 200])
  const head = await app.inject({ method: 'HEAD', url: '/p' })
  t.equal(head.statusCode, 429, 'HEAD counts against the GET route')
})

t.test('route errors are coded and name the route, the path and the value', async (t) => {
  const { app } = await build()
  const cases: Array<[unknown, string, RegExp]> = [
    [{ ip: '10/minn' }, 'FST_LIMITER_INVALID_RATE', /^Route POST \/upload: config\.rateLimit\.ip: '10\/minn' is not a rate like '10\/min' or '3\/5min'$/],
    ['10/minn', 'FST_LIMITER_INVALID_RATE', /^Route POST \/upload: config\.rateLimit: '10\/minn'/],
    [{ ip: ['1/s', 'x'] }, 'FST_LIMITER_INVALID_RATE', /config\.rateLimit\.ip\[1\]: 'x'/],
    [{ ip: ['1/s', 5] }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.ip\[1\]: expected a rate .* received 5$/],
    [{ ip: '1/s', foo: 1 }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.foo: expected a known option/],
    [{ ip: 5 }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.ip: expected a rate .* received 5$/],
    [{ ip: [] }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.ip: expected .* received \[\]$/],
    [{ ip: { limit: 1, windowMs: 1, x: 1 } }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.ip\.x: expected a known option \(limit, windowMs\), received an unknown option$/],
    [{ ip: '1/s', foo: 1 }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.foo: expected a known option \(ip, user, key, rate, cost, algorithm, burst, group, dryRun, onStoreError, headers, deniedHeaders, errorFormat, statusCode, apply, count, settle, delay, concurrency, ban, onBan, exempt, onExceeding, onExceeded\), received an unknown option$/],
    [{ ip: '1/s', cost: 0 }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.cost: expected a positive integer .* received 0$/],
    [{ ip: '1/s', cost: 'x' }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.cost: .* received 'x'$/],
    [{ ip: '5/s', cost: 6 }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.cost: expected a cost of at most 5, the smallest capacity of the limit \(no request could pass a higher one\), received 6$/],
    [{ ip: '1/s', algorithm: 'nope' }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.algorithm: expected one of/],
    [{ ip: '1/s', burst: 3 }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.burst: expected no burst with sliding-window \(burst applies to token-bucket, leaky-bucket and gcra\), received 3$/],
    [{ ip: '1/s', burst: 0 }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.burst: expected a positive integer/],
    [{ ip: '1/s', algorithm: 'token-bucket', burst: 1001 }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.ip: expected a burst of at most 1000 × the limit, .* received burst 1001 for '1\/s'$/],
    [{ ip: '1/s', group: '' }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.group: expected a non-empty string/],
    [{ ip: '1/s', dryRun: 'yes' }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.dryRun: expected true or false, received 'yes'$/],
    [{ ip: '1/s', key: 'x-api-key' }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.key: expected a function/],
    [{ key: () => 'k' }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit: expected ip, user, key with rate, or concurrency \(a limit needs one of them\), received \{\}$/],
    [{ ip: '1/s', key: () => 'k' }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.key: expected rate beside key \(key and rate go together\), received key without rate$/],
    [{ ip: '1/s', rate: '1/s' }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.rate: expected key beside rate \(key and rate go together\), received rate without key$/],
    [{ cost: 2 }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit: expected ip, user, key with rate, or concurrency \(a limit needs one of them\), received \{"cost":2\}$/],
    [{ ip: ['1/s', '1/s'] }, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /config\.rateLimit\.ip: expected each rate listed once, received \["1\/s","1\/s"\], the same rate twice$/],
    [true, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /^Route POST \/upload: config\.rateLimit: expected a rate string .* received true$/],
    [42, 'FST_LIMITER_INVALID_ROUTE_CONFIG', /received 42$/]
  ]
  for (const [rateLimit, code, message] of cases) {
    const err = thrown(() => app.post('/upload', { config: { rateLimit: rateLimit as never } }, ok))
    t.equal(err?.code, code, JSON.stringify(rateLimit) ?? String(rateLimit))
    t.match(err?.message, message)
  }
})

t.test('a bad route inside a plugin fails ready()', async (t) => {
  const { app } = await build()
  app.register(async (child) => {
    child.get('/bad', { config: { rateLimit: '1/lightyear' as never } }, ok)
  })
  await t.rejects(async () => { await app.ready() }, { code: 'FST_LIMITER_INVALID_RATE' })
})

t.test('routes in encapsulated plugins registered after the limiter are limited', async (t) => {
  const { app } = await build()
  await app.register(async (child) => {
    child.get('/child', { config: { rateLimit: '1/min' } }, ok)
  }, { prefix: '/v1' })
  t.same(await hit(app, '/v1/child', 2), [200, 429])
})

t.test('the limiter hook runs after route-level hooks of the same kind', async (t) => {
  const { app } = await build()
  const order: string[] = []
  app.get('/hooks', {
    config: { rateLimit: { user: '1/min' } },
    onRequest: async (request) => {
      order.push('auth');
      (request as unknown as { user: { id: string } }).user = { id: 'u1' }
    }
  }, ok)
  app.get('/single', {
    config: { rateLimit: { user: '1/min' } },
    onRequest: [async (request) => {
      (request as unknown as { user: { id: string } }).user = { id: 'u2' }
    }]
  }, ok)
  t.same(await hit(app, '/hooks', 2), [200, 429], 'the user set by the auth hook was limited')
  t.same(order, ['auth', 'auth'])
  t.same(await hit(app, '/single', 2), [200, 429])
})

t.test('a route with several methods is one route; the global limit may have a group', async (t) => {
  const { app } = await build({ global: { ip: '2/min', group: 'everything' } })
  app.route({ method: ['GET', 'POST'], url: '/both', config: { rateLimit: '1/min' }, handler: ok })
  app.get('/plain', ok)
  t.equal((await app.inject({ method: 'POST', url: '/both' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/both' })).statusCode, 429, 'GET and POST share the route\'s bucket')
  t.same(await hit(app, '/plain', 3), [200, 200, 429])
  await app.rateLimit.reset({ route: 'everything', ip: '127.0.0.1' })
  t.same(await hit(app, '/plain', 1), [200], 'the global limit is found by its group')
})
