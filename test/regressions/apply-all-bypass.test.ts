// Issue 14, item 1: a route `{ key, rate, ip }` counted a request with a key only in its key
// bucket, so one IP sending 100 different keys got 100 requests through its `ip: '10/min'`.
// `apply: 'all'` charges every bucket kind whose identity resolves, all-or-nothing in one store
// call: the attack gets exactly 10 through, on every store (the Redis Cluster one included,
// since an 'all' limit's keys share the route's hash tag).
import t from 'tap'
import type { Test } from 'tap'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { RedisStore } from '../../stores/redis.js'
import { SqliteStore } from '../../stores/sqlite.js'
import type { FastifyLimiterOptions, RateLimitObject } from '../../index.js'
import { build } from '../support/helpers.js'
import { tempDir } from '../support/sqlite.js'
import { connect, redisAvailable, redisServerBin, startCluster, startRedis } from '../support/redis.js'

const limit: RateLimitObject = { key: (r) => r.headers['x-api-key'] as string | undefined, rate: '5/min', ip: '10/min' }

async function app (t: Test, options: FastifyLimiterOptions, apply?: 'first' | 'all'): Promise<FastifyInstance> {
  const { app } = await build(options)
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: apply === undefined ? limit : { ...limit, apply } } }, async () => 'ok')
  return app
}

async function send (app: FastifyInstance, key: string | undefined, ip = '203.0.113.7'): Promise<number> {
  const res = await app.inject({ url: '/r', remoteAddress: ip, headers: key === undefined ? {} : { 'x-api-key': key } })
  return res.statusCode
}

async function attack (app: FastifyInstance, ip = '203.0.113.7'): Promise<number> {
  let passed = 0
  for (let i = 0; i < 100; i++) if (await send(app, `key-${i}`, ip) === 200) passed++
  return passed
}

async function suite (t: Test, name: string, options: () => Promise<FastifyLimiterOptions>): Promise<void> {
  t.test(`${name}: 100 requests from one IP with 100 different keys`, async (t) => {
    t.equal(await attack(await app(t, await options())), 100, "apply 'first' (the default): each key bucket decides alone")
    t.equal(await attack(await app(t, await options(), 'all')), 10, "apply 'all': the IP is capped at exactly 10")
  })

  t.test(`${name}: a request denied by one kind charges none of the others`, async (t) => {
    const a = await app(t, await options(), 'all')
    // the IP bucket denies: the key bucket of the denied request is not charged
    for (let i = 0; i < 10; i++) t.equal(await send(a, `other-${i}`, '198.51.100.1'), 200)
    t.equal(await send(a, 'shared', '198.51.100.1'), 429)
    const res = await a.inject({ url: '/r', remoteAddress: '198.51.100.2', headers: { 'x-api-key': 'shared' } })
    t.equal(res.headers['x-ratelimit-remaining'], '4', 'the key bucket was not charged by the denial')
    // the key bucket denies: the IP bucket is not charged
    for (let i = 0; i < 4; i++) t.equal(await send(a, 'shared', '198.51.100.3'), 200)
    for (let i = 0; i < 3; i++) t.equal(await send(a, 'shared', '198.51.100.3'), 429)
    let passed = 0
    for (let i = 0; i < 10; i++) if (await send(a, `fresh-${i}`, '198.51.100.3') === 200) passed++
    t.equal(passed, 6, 'the IP bucket holds the 4 allowed requests only')
  })

  t.test(`${name}: without a key only the IP bucket applies; headers show the most restrictive bucket`, async (t) => {
    const a = await app(t, await options(), 'all')
    const first = await a.inject({ url: '/r', remoteAddress: '192.0.2.1' })
    t.equal(first.headers['x-ratelimit-limit'], '10')
    const keyed = await a.inject({ url: '/r', remoteAddress: '192.0.2.1', headers: { 'x-api-key': 'k' } })
    t.equal(keyed.headers['x-ratelimit-limit'], '5', 'the key bucket (4 left) is tighter than the IP bucket (8 left)')
    t.equal(keyed.headers['x-ratelimit-remaining'], '4')
  })
}

await suite(t, 'memory', async () => ({}))
await suite(t, 'SQLite', async () => ({ store: new SqliteStore({ path: join(tempDir(t), 'all.db') }) }))

if (redisServerBin === undefined) {
  redisAvailable(t)
} else {
  await suite(t, 'Redis', async () => {
    const server = await startRedis(t)
    return { store: new RedisStore({ client: connect(t, server.port) }) }
  })

  t.test('Redis Cluster: the buckets of an apply: \'all\' limit share the route\'s slot', async (t) => {
    const cluster = await startCluster(t)
    const a = await app(t, { store: new RedisStore({ client: cluster.client() }) }, 'all')
    t.equal(await attack(a), 10, 'exact on a Cluster too')
  })
}

t.test("reset(request) forgets every bucket an apply: 'all' limit charged", async (t) => {
  const { app } = await build()
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: { ...limit, apply: 'all' } } }, async () => 'ok')
  app.addHook('onResponse', async (request) => {
    if (request.headers['x-reset'] === '1') await app.rateLimit.reset(request)
  })
  for (let i = 0; i < 5; i++) t.equal(await send(app, 'k'), 200)
  t.equal(await send(app, 'k'), 429)
  await app.inject({ url: '/r', remoteAddress: '203.0.113.7', headers: { 'x-api-key': 'k', 'x-reset': '1' } })
  const res = await app.inject({ url: '/r', remoteAddress: '203.0.113.7', headers: { 'x-api-key': 'k' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-ratelimit-remaining'], '4', 'the key bucket starts over')
  for (let i = 0; i < 9; i++) t.equal(await send(app, `k${i}`), 200, 'and so does the IP bucket (1 used)')
  t.equal(await send(app, 'k9'), 429)
})

t.test("apply is checked: only 'first' or 'all'", async (t) => {
  const { app } = await build()
  t.teardown(() => app.close())
  t.throws(() => app.get('/x', { config: { rateLimit: { ip: '1/s', apply: 'every' as 'all' } } }, async () => 'ok'),
    { code: 'FST_LIMITER_INVALID_ROUTE_CONFIG', message: /config\.rateLimit\.apply: expected one of 'first', 'all', received 'every'/ })
})
