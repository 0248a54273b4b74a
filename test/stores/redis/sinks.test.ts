// The Redis store's promise-free way (`consumeTo`): each request of a batch gets its answer
// through its own sink, and a sink that throws (it runs its request on) never keeps the other
// requests of its batch from theirs.
import t from 'tap'
import { algorithms } from '../../../algorithms/index.js'
import { consumeTo } from '../../../lib/core/store.js'
import { RedisStore } from '../../../stores/redis.js'
import type { RedisClient } from '../../../stores/redis.js'
import { connect, redisAvailable, startRedis } from '../../support/redis.js'
import { decidedWhileOneThrows, failedWhileOneThrows } from '../../support/sinks.js'

const bucket = { key: '{sinks}:fw', algorithm: algorithms['fixed-window'], params: { limit: 2, windowMs: 60_000, burst: 2 } }

if (redisAvailable(t)) {
  const server = await startRedis(t)

  t.test('a sink that throws: the others of its batch still get their decisions, and the error is thrown', async (t) => {
    const store = new RedisStore({ client: connect(t, server.port) as unknown as RedisClient, keyPrefix: 'sinks:' })
    await store.ready({ damaged () {} })
    const { decisions, caught, thrown } = await decidedWhileOneThrows(3, (sink) => store[consumeTo]([bucket], 1, 1_767_225_600_000, sink))
    t.same(decisions.map((d) => d?.allowed), [true, true, false], 'one batch, decided in order')
    t.same(caught, [thrown])
    await store.close()
  })

  t.test('a batch that fails: each sink hears it, even when one of them throws', async (t) => {
    const client = connect(t, server.port, { enableOfflineQueue: false, lazyConnect: true }) as unknown as RedisClient
    const store = new RedisStore({ client, keyPrefix: 'sinks:' })
    const { failures, caught } = await failedWhileOneThrows((sink) => store[consumeTo]([bucket], 1, undefined, sink))
    t.equal(failures.length, 2)
    t.match(caught, [{ message: 'a failing sink that throws' }])
  })

  t.test('a bucket without a Lua twin fails its sink at once, and the promise of consume()', async (t) => {
    const store = new RedisStore({ client: connect(t, server.port) as unknown as RedisClient, keyPrefix: 'sinks:' })
    const odd = { ...bucket, algorithm: { ...bucket.algorithm, code: 'zz', name: 'zz' as never } }
    let failure: unknown
    store[consumeTo]([odd], 1, undefined, { decided: () => t.fail('decided'), failed (err) { failure = err } })
    t.match(failure, { code: 'FST_LIMITER_INVALID_OPTION' })
    await t.rejects(store.consume([odd], 1), { code: 'FST_LIMITER_INVALID_OPTION' })
    await store.close()
  })
}
