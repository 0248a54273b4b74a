import t from 'tap'
import Fastify from 'fastify'
import { Redis as Valkey } from 'iovalkey'
import limiter from '../../../index.js'
import { RedisStore } from '../../../stores/redis.js'
import { redisAvailable, redisConformance, startRedis } from '../../support/redis.js'

// The Redis store on iovalkey, Valkey's fork of ioredis, against a real redis-server: the shared
// store suite (an injected clock, then the server's TIME) and the plugin's `redis` option.

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const client = new Valkey({ host: '127.0.0.1', port: server.port, enableOfflineQueue: false })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  await new RedisStore({ client }).ready()
  await redisConformance(t, { name: 'RedisStore on iovalkey', client, prefix: 'valkey' })

  t.test('the plugin with redis: an iovalkey client, which it leaves open', async (t) => {
    const app = Fastify()
    await app.register(limiter, { redis: client, keyPrefix: 'valkey-app', storeTimeoutMs: 10_000, onStoreError: 'deny' })
    app.get('/', { config: { rateLimit: { ip: '2/min', concurrency: { ip: 1 }, ban: { after: 2, for: '1min' } } } }, async () => 'ok')
    const codes = []
    for (let i = 0; i < 4; i++) codes.push((await app.inject('/')).statusCode)
    t.same(codes, [200, 200, 429, 403], 'rates, slots and the ban (the second denial) decided by Redis: a store error would be a 503')
    t.equal(await client.call('exists', 'limiter:valkey-app:{GET%20/:ip:127.0.0.1}:sw:2:60000'), 1, 'the bucket is in Redis')
    await app.close()
    t.equal(await client.ping(), 'PONG', "the caller's client still works")
  })
}
