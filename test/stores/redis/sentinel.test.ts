import t from 'tap'
import Fastify from 'fastify'
import limiter from '../../../index.js'
import { algorithms } from '../../../algorithms/index.js'
import { RedisStore } from '../../../stores/redis.js'
import type { StoreBucket, StoreDecision } from '../../../stores/store.js'
import { redisAvailable, startSentinel, until } from '../../support/redis.js'

// A master, a replica and a sentinel: on an ioredis client that finds the master through the
// sentinel, the store keeps deciding after the master is killed and the replica promoted, on
// the state the replica already held, and the plugin on that client goes on limiting.

if (redisAvailable(t)) {
  t.test('requests keep being decided across a Sentinel failover', async (t) => {
    const setup = await startSentinel(t)
    const client = setup.client({ retryStrategy: () => 50, sentinelRetryStrategy: () => 50 })
    const store = new RedisStore({ client })
    const buckets: StoreBucket[] = [{ key: 'fl:{GET%20/:ip:127.0.0.1}:sw:10:3600000', algorithm: algorithms['sliding-window'], params: { limit: 10, windowMs: 3_600_000, burst: 10 } }]

    for (let i = 0; i < 4; i++) t.equal((await store.consume(buckets, 1)).allowed, true)
    t.equal(Number(await client.call('wait', 1, 5000)), 1, 'the replica holds the writes')

    await setup.master.stop()
    let decision: StoreDecision | undefined
    let failures = 0
    // calls fail (or wait in ioredis' queue) until the sentinel has promoted the replica
    await until('a decision after the failover', async () => {
      try {
        decision = await store.consume(buckets, 1)
        return true
      } catch {
        failures++
        return false
      }
    }, 30_000)
    t.ok(decision?.allowed, `decided again after the failover (${failures} calls failed meanwhile)`)
    t.equal(decision?.remaining, 5, 'the count went on from the replica\'s copy')
    t.equal((await client.call('role') as [string])[0], 'master')
    t.match(await client.info('server'), `tcp_port:${setup.replica.port}`, 'the client now talks to the promoted replica')

    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(limiter, { redis: client, storeTimeoutMs: 10_000, onStoreError: 'deny' })
    app.get('/', { config: { rateLimit: '10/hour' } }, async () => 'ok')
    const codes: number[] = []
    for (let i = 0; i < 6; i++) codes.push((await app.inject('/')).statusCode)
    t.same(codes, [200, 200, 200, 200, 200, 429], 'the plugin on the same client limits on the promoted replica')
  })
}
