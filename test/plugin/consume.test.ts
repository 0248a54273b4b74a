// fastify.rateLimit.consume(): a decision outside the HTTP hook (a WebSocket message, a GraphQL
// field, a job), charged to a route's buckets as the hook would charge them.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import type { RateLimitDecision, Store } from '../../index.js'
import { MemoryStore } from '../../index.js'
import { build, requiredOnlyStore } from '../support/helpers.js'

t.test('consume(request) charges the route\'s buckets, counted as the hook counted the request', async (t) => {
  let resolved = 0
  const { app } = await build({ algorithm: 'fixed-window', user: (request) => { resolved++; return request.headers['x-user'] as string | undefined } })
  const decisions: Array<RateLimitDecision | undefined> = []
  app.post('/chat', { config: { rateLimit: { user: '5/min', ip: '2/min' } } }, async (request) => {
    // three messages of 1 on top of the request's own charge
    for (let i = 0; i < 3; i++) decisions.push(await app.rateLimit.consume(request))
    return 'ok'
  })
  t.equal((await app.inject({ method: 'POST', url: '/chat', headers: { 'x-user': 'u1' } })).statusCode, 200)
  t.same(decisions.map((d) => [d?.allowed, d?.remaining, d?.bucket]), [[true, 3, 'user'], [true, 2, 'user'], [true, 1, 'user']])
  t.equal(resolved, 1, 'the user resolver ran once: consume counts the request as its hook did')
  const last = await app.inject({ method: 'POST', url: '/chat', headers: { 'x-user': 'u1' } })
  t.equal(last.statusCode, 200, 'the fifth unit')
  t.same(decisions.slice(3).map((d) => [d?.allowed, d?.retryAfterMs]), [[false, 40_000], [false, 40_000], [false, 40_000]], 'a denial is a decision, never a throw')
  await app.close()
})

t.test('consume(request) with a cost; the cost is checked', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  let request: FastifyRequest | undefined
  app.get('/r', { config: { rateLimit: { ip: '10/min' } } }, async (req) => { request = req; return 'ok' })
  await app.inject('/r')
  const d = await app.rateLimit.consume(request as FastifyRequest, { cost: 4 })
  t.match(d, { allowed: true, remaining: 5, limit: 10, bucket: 'ip', rate: '10/min' })
  t.match(await app.rateLimit.consume(request as FastifyRequest, { cost: 6 }), { allowed: false, remaining: 5 })
  await t.rejects(app.rateLimit.consume(request as FastifyRequest, { cost: 11 }), { code: 'FST_LIMITER_INVALID_COST' })
  await t.rejects(app.rateLimit.consume(request as FastifyRequest, { cost: 0 }), { code: 'FST_LIMITER_INVALID_COST' })
  await t.rejects(app.rateLimit.consume(request as FastifyRequest, null as never), { code: 'FST_LIMITER_INVALID_SELECTOR' })
  await app.close()
})

t.test('consume(selector): a route or group and an identity, picked as the hook picks', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.post('/chat', { config: { rateLimit: { user: '3/min', ip: '1/min' } } }, async () => 'ok')
  app.get('/a', { config: { rateLimit: { user: '2/min', group: 'llm' } } }, async () => 'ok')
  app.get('/both', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string, rate: '5/min', ip: '2/min', apply: 'all' } } }, async () => 'ok')
  t.match(await app.rateLimit.consume({ route: 'POST /chat', user: 'u1', ip: '10.0.0.1' }), { allowed: true, bucket: 'user', remaining: 2 })
  t.match(await app.rateLimit.consume({ route: 'POST /chat', ip: '10.0.0.1' }), { allowed: true, bucket: 'ip', remaining: 0 })
  t.match(await app.rateLimit.consume({ group: 'llm', user: 7 }, { cost: 2 }), { allowed: true, remaining: 0 })
  t.match(await app.rateLimit.consume({ route: 'llm', user: 7 }), { allowed: false, retryAfterMs: 40_000 })
  t.match(await app.rateLimit.consume({ route: 'GET /both', key: 'k', ip: '10.0.0.2' }), { allowed: true, remaining: 1, bucket: 'ip' }, "apply: 'all' charges both")
  t.equal(await app.rateLimit.consume({ route: 'POST /chat', key: 'k' }), undefined, 'no bucket kind of the limit counts that identity')
  // the HTTP request sees the same buckets
  t.equal((await app.inject({ method: 'POST', url: '/chat', remoteAddress: '10.0.0.1' })).statusCode, 429)
  await app.close()
})

t.test('consume(selector) refuses what it cannot decide', async (t) => {
  const { app } = await build()
  app.get('/x', { config: { rateLimit: '1/min' } }, async () => 'ok')
  app.post('/x', { config: { rateLimit: '1/min' } }, async () => 'ok')
  app.get('/dyn', { config: { rateLimit: { ip: () => '1/min' } } }, async () => 'ok')
  app.get('/fn', { config: { rateLimit: { ip: '5/min', cost: () => 2 } } }, async () => 'ok')
  await t.rejects(app.rateLimit.consume({ route: '/x', ip: '1.2.3.4' }), { code: 'FST_LIMITER_INVALID_SELECTOR', message: /names 2 limits \(GET \/x, POST \/x\)/ })
  await t.rejects(app.rateLimit.consume({ route: 'GET /dyn', ip: '1.2.3.4' }), { code: 'FST_LIMITER_INVALID_SELECTOR', message: /decided by a function of the request/ })
  await t.rejects(app.rateLimit.consume({ route: 'GET /nope', ip: '1.2.3.4' }), { code: 'FST_LIMITER_UNKNOWN_ROUTE' })
  await t.rejects(app.rateLimit.consume({ ip: '1.2.3.4' } as never), { code: 'FST_LIMITER_INVALID_SELECTOR', message: /name the route \(or group\) to consume/ })
  await t.rejects(app.rateLimit.consume({ route: 'GET /x', group: 'g', ip: '1.2.3.4' } as never), { code: 'FST_LIMITER_INVALID_SELECTOR', message: /not both/ })
  await t.rejects(app.rateLimit.consume({ route: 'GET /x' }), { code: 'FST_LIMITER_INVALID_SELECTOR', message: /at least one of ip, user or key/ })
  await t.rejects(app.rateLimit.consume({ group: 5 as never, ip: '1.2.3.4' }), { code: 'FST_LIMITER_INVALID_SELECTOR', message: /group must be a non-empty string/ })
  t.match(await app.rateLimit.consume({ route: 'GET /fn', ip: '1.2.3.4' }), { remaining: 4 }, 'a cost function needs a request: 1 by selector')
  await t.rejects(app.rateLimit.settle({} as never, 1), { code: 'FST_LIMITER_INVALID_SELECTOR' })
  await app.close()
})

t.test('consume(request) where no limit applies, or the request is exempt: undefined', async (t) => {
  const { app } = await build({ exempt: (request) => request.headers['x-internal'] === '1', global: '5/min' })
  const seen: Array<RateLimitDecision | undefined> = []
  const handler = async (request: FastifyRequest) => { seen.push(await app.rateLimit.consume(request)); return 'ok' }
  app.get('/off', { config: { rateLimit: false } }, handler)
  app.get('/global', handler)
  app.get('/user-only', { config: { rateLimit: { user: '1/min' } } }, handler)
  await app.inject('/off')
  await app.inject({ url: '/global', headers: { 'x-internal': '1' } })
  await app.inject('/user-only')
  await app.inject('/global')
  t.same(seen.slice(0, 3), [undefined, undefined, undefined])
  t.match(seen[3], { allowed: true, remaining: 3 }, 'the global limit: the request and the consume')
  await app.close()
})

t.test('a ban applies to consume(): its denials strike, a banned identity is told so', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.get('/ws', { config: { rateLimit: { ip: '1/min', ban: { after: 2, for: '10min' } } } }, async () => 'ok')
  const sel = { route: 'GET /ws', ip: '10.0.0.9' }
  t.match(await app.rateLimit.consume(sel), { allowed: true })
  t.match(await app.rateLimit.consume(sel), { allowed: false, retryAfterMs: 40_000 })
  const banned = await app.rateLimit.consume(sel)
  t.match(banned, { allowed: false, banned: true, retryAfterMs: 600_000 })
  t.equal((await app.inject({ url: '/ws', remoteAddress: '10.0.0.9' })).statusCode, 403, 'the HTTP route sees the ban')
  t.same([(await app.rateLimit.stats()).bans], [1])
  await app.close()
})

t.test('dry run: a would-be denial says so (dryRun: true), and charges nothing', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window', dryRun: true })
  app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  const sel = { route: 'GET /r', ip: '10.0.0.1' }
  t.match(await app.rateLimit.consume(sel), { allowed: true })
  const d = await app.rateLimit.consume(sel)
  t.match(d, { allowed: false, dryRun: true })
  t.equal((await app.rateLimit.stats()).dryRunDenied, 1)
  await app.close()
})

/** A store whose consume and peek fail at will. */
function failing (t: Parameters<typeof requiredOnlyStore>[0]): Store & { down: boolean } {
  const memory = new MemoryStore()
  t.teardown(() => memory.close())
  const store: Store & { down: boolean } = {
    down: false,
    consume: (buckets, cost, now) => store.down ? Promise.reject(new Error('down')) : Promise.resolve(memory.consume(buckets, cost, now)),
    peek: (buckets, cost, now) => store.down ? Promise.reject(new Error('down')) : Promise.resolve(memory.peek(buckets, cost, now)),
    reset: (key) => memory.reset(key),
    clear: (prefix) => memory.clear(prefix),
    stats: () => memory.stats(),
    close: () => {}
  }
  return store
}

t.test('a store failure follows the limit\'s onStoreError, for consume() and peek()', async (t) => {
  const store = failing(t)
  const { app } = await build({ store, algorithm: 'fixed-window' })
  app.get('/fallback', { config: { rateLimit: { ip: '2/min' } } }, async () => 'ok')
  app.get('/allow', { config: { rateLimit: { ip: '2/min', onStoreError: 'allow' } } }, async () => 'ok')
  app.get('/deny', { config: { rateLimit: { ip: '2/min', onStoreError: 'deny' } } }, async () => 'ok')
  store.down = true
  const ip = '10.0.0.1'
  t.match(await app.rateLimit.consume({ route: 'GET /fallback', ip }), { allowed: true, remaining: 1 }, 'fallback: decided on the local store')
  t.match(await app.rateLimit.peek({ route: 'GET /fallback', ip }), { allowed: true, remaining: 0 }, 'and peeked there')
  t.match(await app.rateLimit.consume({ route: 'GET /allow', ip }), { allowed: true, remaining: 2, limit: 2 }, 'allow: allowed')
  t.match(await app.rateLimit.peek({ route: 'GET /allow', ip }), { allowed: true })
  await t.rejects(app.rateLimit.consume({ route: 'GET /deny', ip }), { code: 'FST_LIMITER_STORE_UNAVAILABLE', statusCode: 503 })
  await t.rejects(app.rateLimit.peek({ route: 'GET /deny', ip }), { code: 'FST_LIMITER_STORE_UNAVAILABLE' })
  t.equal((await app.rateLimit.stats()).storeErrors, 5)
  await app.close()
})
