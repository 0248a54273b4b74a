// Issue 12, peek: fastify.rateLimit.peek(request) and peek({ route, ip | user | key }) resolve to
// the decision a request would get now, charging nothing, on every store.
import t from 'tap'
import type { Test } from 'tap'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import limiter from '../../index.js'
import { RedisStore } from '../../stores/redis.js'
import { SqliteStore } from '../../stores/sqlite.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { build, requiredOnlyStore } from '../support/helpers.js'
import { tempDir } from '../support/sqlite.js'
import { connect, redisAvailable, startRedis } from '../support/redis.js'

async function peekApp (t: Test, options: FastifyLimiterOptions): Promise<FastifyInstance> {
  const { app } = await build({ algorithm: 'fixed-window', user: (r) => r.headers['x-user'] as string | undefined, ...options })
  t.teardown(() => app.close())
  // the handler peeks at its own request: the state after this request's charge
  app.get('/r', { config: { rateLimit: { ip: '3/min', user: (r) => r.headers['x-plan'] === 'pro' ? '5/min' : undefined, cost: async (r) => Number(r.headers['x-cost'] ?? 1) } } },
    async (request) => ({ decision: request.rateLimit, peek: await app.rateLimit.peek(request) }))
  app.get('/free', async (request) => ({ peek: await app.rateLimit.peek(request) ?? 'none' }))
  return app
}

async function suite (t: Test, name: string, options: () => Promise<FastifyLimiterOptions>): Promise<void> {
  t.test(`${name}: peek(request) and peek({ route, ip }) charge nothing`, async (t) => {
    const app = await peekApp(t, await options())
    const first = (await app.inject('/r')).json()
    t.match(first.decision, { allowed: true, remaining: 2, bucket: 'ip', rate: '3/min' })
    t.match(first.peek, { allowed: true, limit: 3, remaining: 1, retryAfterMs: 0, bucket: 'ip', rate: '3/min' }, 'what the next request would get (1 left after it): peek charged nothing')
    for (let i = 0; i < 3; i++) {
      t.match(await app.rateLimit.peek({ route: 'GET /r', ip: '127.0.0.1' }), { allowed: true, remaining: 1 }, 'peeking again changes nothing')
    }
    t.match((await app.inject({ url: '/r', headers: { 'x-cost': '2' } })).json().peek, { allowed: false, remaining: 0 }, 'the request cost is used')
    const denied = await app.rateLimit.peek({ route: '/r', ip: '127.0.0.1' })
    t.match(denied, { allowed: false, remaining: 0, bucket: 'ip' })
    t.ok((denied?.retryAfterMs ?? 0) > 0)
    t.equal((await app.inject('/r')).statusCode, 429)
    t.equal(await app.rateLimit.peek({ route: 'GET /r', ip: '192.0.2.1' }).then((d) => d?.remaining), 2, 'another IP: a full bucket (2 left after one request)')
    t.same((await app.inject('/free')).json(), { peek: 'none' }, 'a route without a limit: undefined')
  })

  t.test(`${name}: rates decided per request, a user selector`, async (t) => {
    const app = await peekApp(t, await options())
    const res = (await app.inject({ url: '/r', headers: { 'x-user': 'u1', 'x-plan': 'pro' } })).json()
    t.match(res.peek, { allowed: true, remaining: 3, bucket: 'user', rate: '5/min' })
    t.match(await app.rateLimit.peek({ route: 'GET /r', user: 'u1' }), { remaining: 3, rate: '5/min' }, 'the rates the function returned lately')
    t.equal(await app.rateLimit.peek({ route: 'GET /r', key: 'k' }), undefined, 'the route has no key kind')
  })
}

await suite(t, 'memory', async () => ({}))
await suite(t, 'SQLite', async () => ({ store: new SqliteStore({ path: join(tempDir(t), 'peek.db') }) }))
if (redisAvailable(t)) {
  await suite(t, 'Redis', async () => {
    const server = await startRedis(t)
    return { store: new RedisStore({ client: connect(t, server.port) }) }
  })
}

t.test('several limits on a route: the most restrictive decision', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: '5/min' }, onRequest: app.rateLimit.hook({ ip: '2/min', group: 'g' }) }, async (request) => await app.rateLimit.peek(request))
  app.get('/x', { config: { rateLimit: '1/min' }, onRequest: app.rateLimit.hook({ ip: '3/min', group: 'h' }) }, async (request) => await app.rateLimit.peek(request))
  t.match((await app.inject('/r')).json(), { allowed: true, remaining: 0, rate: '2/min' })
  t.match((await app.inject('/r')).json(), { allowed: false, rate: '2/min' })
  t.match(await app.rateLimit.peek({ route: 'g', ip: '127.0.0.1' }), { allowed: false })
  await app.inject('/x')
  const worst = await app.rateLimit.peek({ route: '/x', ip: '127.0.0.1' })
  t.match(worst, { allowed: false, rate: '1/min' })
})

t.test("an apply 'all' limit: every kind named, the deciding one described", async (t) => {
  const { app } = await build({ algorithm: 'fixed-window', user: (r) => r.headers['x-user'] as string | undefined })
  app.get('/all', { config: { rateLimit: { ip: '5/min', user: ['1/min', '10/hour'], apply: 'all' } } }, async () => 'ok')
  await app.inject({ url: '/all', headers: { 'x-user': 'u' } })
  t.match(await app.rateLimit.peek({ route: 'GET /all', ip: '127.0.0.1', user: 'u' }), { allowed: false, bucket: 'user', rate: '1/min' })
  t.match(await app.rateLimit.peek({ route: 'GET /all', ip: '127.0.0.1' }), { allowed: true, bucket: 'ip', remaining: 3 })
})

t.test('exempt requests, a failing cost function, a clock-less app', async (t) => {
  const app = Fastify()
  await app.register(limiter, { exempt: async (r) => r.headers['x-skip'] === '1', hook: 'preHandler' })
  t.teardown(() => app.close())
  app.get('/r', {
    config: { rateLimit: { ip: '3/min', cost: (r) => { if (r.headers['x-bad'] === '1') throw new Error('no cost'); return 1 } } },
    // onRequest runs before the limiter (preHandler): nothing is charged yet
    onRequest: async (request, reply) => {
      const peeked = await app.rateLimit.peek(request).catch((err: Error & { code: string }) => ({ code: err.code, message: err.message }))
      return await reply.send({ peeked: peeked ?? 'none' })
    }
  }, async () => 'ok')
  t.same((await app.inject({ url: '/r', headers: { 'x-skip': '1' } })).json(), { peeked: 'none' }, 'exempt: no limit applies')
  t.match((await app.inject('/r')).json(), { peeked: { allowed: true, remaining: 2, limit: 3 } }, 'on the store\'s own clock')
  t.match((await app.inject({ url: '/r', headers: { 'x-bad': '1' } })).json(), { peeked: { code: 'FST_LIMITER_RESOLVER_FAILED', message: /the cost function threw \(its error is the cause\)$/ } })
})

t.test('peek errors are coded', async (t) => {
  const { app } = await build()
  app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  await t.rejects(app.rateLimit.peek({ ip: '127.0.0.1' } as never), { code: 'FST_LIMITER_INVALID_SELECTOR', message: 'fastify.rateLimit.peek: name the route (or group) to peek at' })
  await t.rejects(app.rateLimit.peek({ route: 'GET /nope', ip: '127.0.0.1' }), { code: 'FST_LIMITER_UNKNOWN_ROUTE', message: /^fastify\.rateLimit\.peek: no rate-limited route or group 'GET \/nope'/ })
  await t.rejects(app.rateLimit.peek({ route: 'GET /r' }), { code: 'FST_LIMITER_INVALID_SELECTOR', message: /name at least one of ip, user or key/ })
  await t.rejects(app.rateLimit.peek({ route: 'GET /r', ip: '' }), { message: /^fastify\.rateLimit\.peek: ip must be a non-empty string/ })
  const store = requiredOnlyStore(t)
  const old = await build({ store })
  old.app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  await t.rejects(old.app.rateLimit.peek({ route: 'GET /r', ip: '127.0.0.1' }), { code: 'FST_LIMITER_STORE_LACKS_METHOD', message: /fastify\.rateLimit\.peek\(\): peek\(\) needs the store method peek\(\)/ })
})

t.test('peek(request) on the not-found handler, and on a route whose limit does not apply', async (t) => {
  const { app } = await build()
  app.setNotFoundHandler({ preHandler: app.rateLimit.hook('2/min') }, async (request, reply) => await reply.code(404).send(await app.rateLimit.peek(request)))
  app.get('/users', { config: { rateLimit: { user: '1/min' } } }, async (request) => ({ peek: await app.rateLimit.peek(request) ?? 'none' }))
  t.match((await app.inject('/missing')).json(), { allowed: true, remaining: 0, limit: 2 })
  t.same((await app.inject('/users')).json(), { peek: 'none' }, 'anonymous on a user-only route: no limit applies')
  // a request no limit ran on, on the not-found route: its limits are worked out from the registry
  const { app: other } = await build()
  other.rateLimit.hook('2/min') // registered for the routes it runs on: none here
  other.setNotFoundHandler(async (request, reply) => await reply.code(404).send(await other.rateLimit.peek(request) ?? 'none'))
  t.equal((await other.inject('/missing')).body, 'none')
})
