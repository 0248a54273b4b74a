import t from 'tap'
import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import limiter from '../../../index.js'
import type { FastifyLimiterOptions } from '../../../index.js'
import { RedisStore } from '../../../stores/redis.js'
import { MemoryStore } from '../../../stores/memory.js'
import { resolveOptions } from '../../../lib/config/options.js'
import { thrown } from '../../support/helpers.js'
import { habitsOnStore } from '../../support/habits.js'
import { connect, redisAvailable, startRedis } from '../../support/redis.js'

t.test('the redis option is checked at registration', async (t) => {
  const bad: unknown[] = ['localhost:6379', 'http://localhost', 5, false]
  for (const redis of bad) {
    t.equal(thrown(() => resolveOptions({ redis } as unknown as FastifyLimiterOptions))?.code, 'FST_LIMITER_INVALID_OPTION', String(redis))
  }
  const client = { call: async () => null, quit: async () => 'OK', isCluster: false, options: {} }
  t.equal(thrown(() => resolveOptions({ redis: client, store: new MemoryStore() }))?.code, 'FST_LIMITER_INVALID_OPTION', 'with store')
  t.equal(thrown(() => resolveOptions({ redis: client, sqlite: ':memory:' }))?.code, 'FST_LIMITER_INVALID_OPTION', 'with sqlite')
  t.equal(thrown(() => resolveOptions({ redis: true }))?.code, 'FST_LIMITER_INVALID_OPTION', 'true without fastify.redis')
  t.equal(thrown(() => resolveOptions({ redis: { not: 'a client' } } as unknown as FastifyLimiterOptions))?.code,
    'FST_LIMITER_INVALID_OPTION', 'an object that is not a client')
  t.ok(resolveOptions({ redis: client }).store instanceof RedisStore)
})

/**
 * Every decision here must come from Redis. A burst in one process, or a first call that also
 * connects and loads the script, can take longer than the default 100 ms store timeout on a
 * busy machine, and a timeout would be decided on the local fallback store: so no timeout,
 * and any store error is a 503 that fails the test.
 */
const strict = { storeTimeoutMs: 10_000, onStoreError: 'deny' } as const

if (redisAvailable(t)) {
  const server = await startRedis(t)

  t.test('two app servers with their own clients share one Redis: 200 concurrent requests at 25/min, exactly 25 pass', async (t) => {
    const apps = [0, 1].map(() => {
      const app = Fastify()
      t.teardown(() => app.close())
      return app
    })
    for (const app of apps) {
      await app.register(limiter, { redis: connect(t, server.port), keyPrefix: 'shared', ...strict })
      app.get('/scarce', { config: { rateLimit: '25/min' } }, async () => 'ok')
    }
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => apps[i % 2].inject('/scarce')))
    const passed = responses.filter((r) => r.statusCode === 200)
    t.equal(passed.length, 25)
    t.equal(responses.filter((r) => r.statusCode === 429).length, 175)
    t.same(passed.map((r) => Number(r.headers['x-ratelimit-remaining'])).sort((a, b) => a - b),
      Array.from({ length: 25 }, (_, i) => i), 'each allowed request saw its own remaining count')
    const [a, b] = responses.filter((r) => r.statusCode === 429).map((r) => Number(r.headers['x-ratelimit-reset']))
    t.equal(a, b, 'both servers report the same reset: the Redis clock decided')
  })

  t.test("redis: 'redis://…' makes a store that owns its client, closed with Fastify", async (t) => {
    const app = Fastify()
    await app.register(limiter, { redis: server.url, keyPrefix: 'url', ...strict })
    app.get('/', { config: { rateLimit: '2/min' } }, async () => 'ok')
    // the client has no offline queue: it answers once connected, which ready() waits for
    await app.ready()
    const before = ((await app.rateLimit.stats()).store as { keys: number }).keys
    t.same([(await app.inject('/')).statusCode, (await app.inject('/')).statusCode, (await app.inject('/')).statusCode], [200, 200, 429])
    const store = app.rateLimit.store as RedisStore
    t.ok(store instanceof RedisStore)
    t.equal(((await app.rateLimit.stats()).store as { keys: number }).keys, before + 1, 'one bucket more in Redis')
    await app.close()
    await t.rejects(store.client.call('ping'), /Connection is closed/)
  })

  t.test('redis: client uses the caller\'s client and leaves it open', async (t) => {
    const client = connect(t, server.port)
    const app = Fastify()
    await app.register(limiter, { redis: client, keyPrefix: 'own', ...strict })
    app.get('/', { config: { rateLimit: '1/min' } }, async () => 'ok')
    t.same([(await app.inject('/')).statusCode, (await app.inject('/')).statusCode], [200, 429])
    await app.close()
    t.equal(await client.ping(), 'PONG')
  })

  t.test('redis: true uses fastify.redis from @fastify/redis, which keeps its own client', async (t) => {
    const app = Fastify()
    await app.register(fastifyRedis, { host: '127.0.0.1', port: server.port })
    await app.register(limiter, { redis: true, keyPrefix: 'decorated', ...strict })
    app.get('/', { config: { rateLimit: '1/min' } }, async () => 'ok')
    t.same([(await app.inject('/')).statusCode, (await app.inject('/')).statusCode], [200, 429])
    t.equal((app.rateLimit.store as RedisStore).client, app.redis)
    await app.close()
  })

  t.test('a plugin key, statusCode, deniedHeaders, onExceeding and onExceeded on Redis, remembered denials included (issue 20)', async (t) => {
    await habitsOnStore(t, { redis: connect(t, server.port), keyPrefix: 'habits' })
  })

  t.test('redis: true without @fastify/redis fails at registration', async (t) => {
    const app = Fastify()
    app.register(limiter, { redis: true })
    await t.rejects(async () => { await app.ready() }, { code: 'FST_LIMITER_INVALID_OPTION' })
  })
}
