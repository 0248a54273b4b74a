import t from 'tap'
import Fastify from 'fastify'
import limiter from '../../../index.js'
import { algorithms } from '../../../algorithms/index.js'
import { RedisStore } from '../../../stores/redis.js'
import type { StoreBucket } from '../../../stores/store.js'
import { redisAvailable, startCluster } from '../../support/redis.js'

// A three-master Redis Cluster on loopback: a request's windows share one hash tag, so one
// slot, so one script decides them all; clear() and stats() walk every master.

if (redisAvailable(t)) {
  const cluster = await startCluster(t)
  const client = cluster.client()
  const store = new RedisStore({ client, keyPrefix: 'cl:' })

  const bucket = (key: string, limit: number): StoreBucket =>
    ({ key, algorithm: algorithms['sliding-window'], params: { limit, windowMs: 60_000, burst: limit } })

  t.test('the windows of one request share a slot and are decided together, on every master', async (t) => {
    const slots = new Set<number>()
    for (let i = 0; i < 30; i++) {
      const tag = `fl:{GET%20/route${i}:ip:10.0.0.${i}}`
      const buckets = [bucket(`${tag}:sw:2:1000`, 2), bucket(`${tag}:sw:5:60000`, 5)]
      for (let n = 0; n < 2; n++) t.equal((await store.consume(buckets, 1)).allowed, true)
      const third = await store.consume(buckets, 1)
      t.same([third.allowed, third.index], [false, 0], 'the tight window denies')
      t.equal((await store.consume([buckets[1]], 1)).remaining, 2, 'the loose window was charged twice, not three times')
      slots.add(Number(await client.call('cluster', 'keyslot', `cl:${tag}:sw:2:1000`)))
    }
    const owners = new Set([...slots].map((slot) => Math.floor(slot / (16384 / 3))))
    t.equal(owners.size, 3, 'the keys spread over all three masters')
  })

  t.test('keys of one request without a shared hash tag would span slots: Redis refuses them', async (t) => {
    await t.rejects(store.consume([bucket('{a}:x', 2), bucket('{b}:x', 2)], 1), /CROSSSLOT|same slot/)
  })

  t.test('stats() counts on every master and clear() empties them all, with SCAN', async (t) => {
    const stats = await store.stats()
    t.equal(stats.nodes, 3)
    t.equal(stats.keys, 60)
    t.ok(stats.memory > 0)
    await client.set('outside-the-prefix', 'kept')
    await store.clear()
    t.equal((await store.stats()).keys, 0)
    t.equal(await client.get('outside-the-prefix'), 'kept')
  })

  t.test('the plugin on a Cluster client: redis: cluster', async (t) => {
    const app = Fastify()
    await app.register(limiter, { redis: client, keyPrefix: 'app', storeTimeoutMs: 10_000, onStoreError: 'deny' })
    app.get('/', { config: { rateLimit: { ip: ['3/s', '5/min'] } } }, async () => 'ok')
    const codes: number[] = []
    for (let i = 0; i < 5; i++) codes.push((await app.inject('/')).statusCode)
    t.same(codes, [200, 200, 200, 429, 429])
    await app.close()
    t.equal(await client.ping(), 'PONG', 'the plugin never closes a client it was given')
  })

  t.test('a charge of a request\'s windows runs in one script on their slot, and every key keeps a TTL', async (t) => {
    const tag = 'fl:{POST%20/chat:user:u1}'
    const buckets = [bucket(`${tag}:sw:2:1000`, 2), bucket(`${tag}:sw:5:60000`, 5)]
    await store.charge(buckets, 12)
    const denied = await store.consume(buckets, 1)
    t.same([denied.allowed, denied.remaining], [false, 0], 'in debt')
    for (const { key } of buckets) {
      const ttl = Number(await client.call('pttl', `cl:${key}`))
      t.ok(ttl > 60_000 && ttl <= 120_000, `${key}: PTTL ${ttl}, the two windows a sliding window counts in`)
    }
    await t.rejects(store.charge([bucket('{c}:x', 2), bucket('{d}:x', 2)], 1), /CROSSSLOT|same slot/)
  })
}
