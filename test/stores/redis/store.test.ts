import t from 'tap'
import { once } from 'node:events'
import { algorithms } from '../../../algorithms/index.js'
import type { Algorithm } from '../../../algorithms/index.js'
import { RedisStore, loadIoredis, redisShorthand } from '../../../stores/redis.js'
import type { RedisClient, RedisStoreOptions } from '../../../stores/redis.js'
import type { StoreBucket } from '../../../stores/store.js'
import { Clock, thrown } from '../../support/helpers.js'
import { Redis, connect, freePort, redisAvailable, startRedis } from '../../support/redis.js'

/** What `promise` rejects with (undefined when it resolves, which fails the assertions on it). */
async function rejection (promise: Promise<unknown>): Promise<Partial<Error & { code: string, cause: unknown }>> {
  return await promise.then(() => ({}), (err: unknown) => err as Error & { code: string })
}

function bucket (key: string, name: keyof typeof algorithms = 'fixed-window', limit = 3, windowMs = 60_000): StoreBucket {
  return { key, algorithm: algorithms[name], params: { limit, windowMs, burst: limit } }
}

t.test('options are checked at construction, naming the option', async (t) => {
  const client = { call: async () => null, quit: async () => 'OK', isCluster: false, options: {} } as RedisClient
  const cases: Array<[string, unknown]> = [
    ['not an object', null],
    ['neither client nor url', {}],
    ['both client and url', { client, url: 'redis://localhost' }],
    ['a client that is not one', { client: {} }],
    ['a null client', { client: null }],
    ['a URL of another scheme', { url: 'http://localhost:6379' }],
    ['a URL that is not a string', { url: 6379 }],
    ['a prefix with a hash-tag brace', { client, keyPrefix: 'a{b}:' }],
    ['an empty prefix (clear() would reach every key)', { client, keyPrefix: '' }],
    ['a prefix that is not a string', { client, keyPrefix: 7 }],
    ['a clock that is not a function', { client, clock: 5 }]
  ]
  for (const [name, options] of cases) {
    t.equal(thrown(() => new RedisStore(options as RedisStoreOptions))?.code, 'FST_LIMITER_INVALID_OPTION', name)
  }
  const store = new RedisStore({ client })
  t.equal(store.keyPrefix, 'limiter:', 'the default prefix')
  t.equal(store.client, client)
})

t.test('ioredis is loaded only for a URL, and its absence is named', async (t) => {
  const err = thrown(() => loadIoredis('ioredis-that-is-not-installed'))
  t.equal(err?.code, 'FST_LIMITER_REDIS_MISSING')
  t.match(err?.message, /npm install ioredis-that-is-not-installed\)$/)
  t.equal(typeof loadIoredis(), 'function')
})

t.test('redis: true needs fastify.redis', async (t) => {
  t.equal(thrown(() => redisShorthand(true, {}, undefined))?.code, 'FST_LIMITER_INVALID_OPTION')
  t.equal(thrown(() => redisShorthand(true, undefined, undefined))?.code, 'FST_LIMITER_INVALID_OPTION')
})

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const raw = connect(t, server.port)

  t.test('a store made from a URL owns its client and closes it; a given client is never closed', async (t) => {
    const owned = new RedisStore({ url: server.url, keyPrefix: 'url:' })
    await owned.ready()
    t.equal((await owned.consume([bucket('{a}')], 1)).remaining, 2)
    await owned.close()
    await owned.close()
    await t.rejects(owned.client.call('ping'), /Connection is closed/, 'the store closed the client it made')

    const client = connect(t, server.port)
    const given = new RedisStore({ client, keyPrefix: 'given:' })
    t.equal((await given.consume([bucket('{a}')], 1)).remaining, 2)
    await given.close()
    t.equal(await client.ping(), 'PONG', 'the caller\'s client still works')
  })

  t.test('a client made from a URL has no offline queue: unreachable, every call fails at once and says why', async (t) => {
    const port = await freePort()
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}` })
    t.teardown(() => store.close())
    t.equal((store.client as unknown as { options: { enableOfflineQueue: boolean } }).options.enableOfflineQueue, false)
    const early = await rejection(store.consume([bucket('{a}')], 1))
    t.equal(early.code, 'FST_LIMITER_REDIS_UNREACHABLE', 'not queued: a queued call would wait for a server that never comes')
    t.match(early.message, `RedisStore: no connection to Redis at 127.0.0.1:${port}: `)
    const ready = await rejection(store.ready())
    t.equal(ready.code, 'FST_LIMITER_REDIS_UNREACHABLE')
    t.equal(ready.message, `RedisStore: no connection to Redis at 127.0.0.1:${port}: connection refused (connect ECONNREFUSED 127.0.0.1:${port})`)
    t.match(ready.cause, { code: 'ECONNREFUSED' }, "ioredis' own error as the cause")
    t.equal((await rejection(store.ready())).message, ready.message, 'asked again: the known refusal at once')
    const calls: Array<() => Promise<unknown>> = [
      () => store.consume([bucket('{a}')], 1),
      () => store.refund([bucket('{a}')], 1),
      () => store.peek([bucket('{a}')]),
      () => store.strike('{a}:ban', { after: 2, forMs: 1000, backoffMilli: 1000, maxMs: 1000, windowMs: 1000 }),
      () => store.acquire('{a}:slots', 1, 1000),
      () => store.release('{a}:slots', 'token')
    ]
    for (const call of calls) {
      await t.rejects(call(), { code: 'FST_LIMITER_REDIS_UNREACHABLE', message: /: connection refused \(connect ECONNREFUSED / })
    }
  })

  t.test('closing a store whose server is unreachable drops the connection at once', async (t) => {
    const store = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}` })
    await t.rejects(store.ready())
    const client = store.client as unknown as Redis
    const ended = once(client, 'end')
    await store.close()
    await ended
    t.equal(client.status, 'end', 'no reconnection attempts left running')
  })

  t.test('keys carry the store prefix and expire exactly with their state (PXAT)', async (t) => {
    const store = new RedisStore({ client: raw, keyPrefix: 'ttl:' })
    const d = await store.consume([bucket('{k}:fw', 'fixed-window', 3, 60_000)], 1)
    const expireAt = Number(await raw.call('pexpiretime', 'ttl:{k}:fw'))
    t.equal(expireAt, d.resetMs, 'a fixed window key lives until its window ends, not a ms longer')
    const value = await raw.get('ttl:{k}:fw')
    t.equal(value, `${d.resetMs},${Math.floor(d.now / 60_000)},1`, 'expiry, window, count')
    t.equal(Number(await raw.exists('{k}:fw')), 0, 'nothing is written outside the prefix')
  })

  t.test('a denied request writes nothing', async (t) => {
    const store = new RedisStore({ client: raw, keyPrefix: 'deny:' })
    const buckets = [bucket('{d}:a', 'sliding-log', 1), bucket('{d}:b', 'sliding-log', 5)]
    t.equal((await store.consume(buckets, 1)).allowed, true)
    const before = [await raw.get('deny:{d}:a'), await raw.get('deny:{d}:b')]
    const denied = await store.consume(buckets, 1)
    t.same([denied.allowed, denied.index], [false, 0])
    t.same([await raw.get('deny:{d}:a'), await raw.get('deny:{d}:b')], before)
  })

  t.test('EVALSHA falls back to EVAL when the server has lost the scripts', async (t) => {
    const store = new RedisStore({ client: raw, keyPrefix: 'noscript:' })
    t.equal((await store.consume([bucket('{n}')], 1)).allowed, true)
    await raw.script('FLUSH')
    t.equal((await store.consume([bucket('{n}')], 1)).remaining, 1, 'decided, on the same state')
    await raw.script('FLUSH')
    t.equal((await store.consume([bucket('{n}'), { ...bucket('{n}:gc', 'gcra') }], 1)).remaining, 0, 'the mixed script too')
  })

  t.test('other errors reach the caller', async (t) => {
    const store = new RedisStore({ client: raw, keyPrefix: 'wrong:' })
    await raw.hset('wrong:{h}', 'field', '1')
    await store.consume([bucket('{loaded}')], 1)
    await t.rejects(store.consume([bucket('{h}')], 1), /WRONGTYPE/)
  })

  t.test('an algorithm without a Lua twin is refused', async (t) => {
    const store = new RedisStore({ client: raw })
    const custom: Algorithm<unknown> = { ...algorithms.gcra, code: 'my' }
    await t.rejects(store.consume([{ key: '{c}', algorithm: custom, params: { limit: 1, windowMs: 1000, burst: 1 } }], 1),
      { code: 'FST_LIMITER_INVALID_OPTION' })
    await t.rejects(store.consume([bucket('{c}:ok'), { key: '{c}', algorithm: custom, params: { limit: 1, windowMs: 1000, burst: 1 } }], 1),
      { code: 'FST_LIMITER_INVALID_OPTION' })
  })

  t.test('refund and peek refuse an algorithm without a Lua twin too', async (t) => {
    const store = new RedisStore({ client: raw })
    const custom: Algorithm<unknown> = { ...algorithms.gcra, code: 'my' }
    const buckets = [bucket('{c}:ok'), { key: '{c}', algorithm: custom, params: { limit: 1, windowMs: 1000, burst: 1 } }]
    await t.rejects(store.refund(buckets, 1), { code: 'FST_LIMITER_INVALID_OPTION' })
    await t.rejects(store.peek(buckets, 1), { code: 'FST_LIMITER_INVALID_OPTION' })
  })

  t.test('reset, clear and stats stay under the prefix; clear and stats page through SCAN', async (t) => {
    const store = new RedisStore({ client: raw, keyPrefix: 'scan:' })
    const neighbour = new RedisStore({ client: raw, keyPrefix: 'scan-other:' })
    await raw.set('unrelated', 'kept')
    // more keys than one SCAN page holds
    const pipeline = raw.pipeline()
    for (let i = 0; i < 2500; i++) pipeline.set(`scan:{bulk}:${i}`, `${Date.now() + 60_000},1,1`, 'PX', 60_000)
    await pipeline.exec()
    await store.consume([bucket('{x}:a'), bucket('{x}:b')], 1)
    await neighbour.consume([bucket('{x}:a')], 1)

    const stats = await store.stats()
    t.equal(stats.keys, 2502)
    t.equal(stats.nodes, 1)
    t.ok(Number.isInteger(stats.memory) && stats.memory > 0, 'used_memory in bytes')

    await store.reset('{x}:a')
    t.equal((await store.stats()).keys, 2501)
    t.equal((await store.consume([bucket('{x}:a')], 1)).remaining, 2, 'a reset bucket starts over')

    await store.clear()
    t.equal((await store.stats()).keys, 0)
    t.equal((await neighbour.stats()).keys, 1, 'another prefix is left alone')
    t.equal(await raw.get('unrelated'), 'kept')
  })

  t.test('a client with its own keyPrefix: keys nest under both, and clear() finds them', async (t) => {
    const client = connect(t, server.port, { keyPrefix: 'app*:' })
    const store = new RedisStore({ client, keyPrefix: 'nested:' })
    await raw.set('appX:nested:{decoy}', 'a glob character in the client prefix matches itself only')
    await store.consume([bucket('{p}')], 1)
    t.equal(Number(await raw.exists('app*:nested:{p}')), 1)
    t.equal((await store.stats()).keys, 1)
    await store.reset('{p}')
    t.equal((await store.stats()).keys, 0)
    await store.consume([bucket('{p}')], 1)
    await store.clear()
    t.equal(Number(await raw.exists('app*:nested:{p}')), 0)
    t.equal(Number(await raw.exists('appX:nested:{decoy}')), 1)
  })

  t.test('sweep() drops states expired on an injected clock', async (t) => {
    const clock = new Clock()
    const store = new RedisStore({ client: raw, keyPrefix: 'sweep:', clock: clock.read })
    await store.consume([bucket('{s}:short', 'fixed-window', 3, 1000)], 1)
    await store.consume([bucket('{s}:long', 'fixed-window', 3, 3_600_000)], 1)
    t.equal(await store.sweep(), 0)
    clock.advance(60_000)
    t.equal(await store.sweep(), 1, 'the second-long window is over')
    t.equal((await store.stats()).keys, 1)
    const d = await store.consume([bucket('{s}:long', 'fixed-window', 3, 3_600_000)], 1)
    t.equal(d.now, clock.now, 'consume without now reads the injected clock')

    const serverClock = new RedisStore({ client: raw, keyPrefix: 'sweep-server:' })
    await serverClock.consume([bucket('{s}:fresh', 'fixed-window', 3, 3_600_000)], 1)
    t.equal(await serverClock.sweep(), 0, 'on the server clock Redis expires keys itself; nothing is due')
  })
}
