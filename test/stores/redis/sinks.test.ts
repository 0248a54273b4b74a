// The Redis store's promise-free way (`consumeTo`): each request of a batch gets its answer
// through its own sink, and a sink that throws (it runs its request on) never keeps the other
// requests of its batch from theirs.
import t from 'tap'
import { algorithms } from '../../../algorithms/index.js'
import { consumeTo } from '../../../lib/core/store.js'
import type { DecisionSink, StoreDecision } from '../../../lib/core/store.js'
import { RedisStore } from '../../../stores/redis.js'
import type { RedisClient } from '../../../stores/redis.js'
import { connect, redisAvailable, startRedis } from '../../support/redis.js'

const bucket = { key: '{sinks}:fw', algorithm: algorithms['fixed-window'], params: { limit: 2, windowMs: 60_000, burst: 2 } }

/** Runs `fn` with uncaught exceptions collected instead of failing the test run. */
async function catching (fn: () => Promise<void>): Promise<unknown[]> {
  const caught: unknown[] = []
  const listener = (err: unknown): void => { caught.push(err) }
  const others = process.listeners('uncaughtException')
  process.removeAllListeners('uncaughtException')
  process.on('uncaughtException', listener)
  try {
    await fn()
    // the error is thrown on its own, right after the batch's answers
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('uncaughtException', listener)
    for (const other of others) process.on('uncaughtException', other)
  }
  return caught
}

if (redisAvailable(t)) {
  const server = await startRedis(t)

  t.test('a sink that throws: the others of its batch still get their decisions, and the error is thrown', async (t) => {
    const store = new RedisStore({ client: connect(t, server.port) as unknown as RedisClient, keyPrefix: 'sinks:' })
    await store.ready({ damaged () {} })
    const decisions: Array<StoreDecision | undefined> = [undefined, undefined, undefined]
    const boom = new Error('a sink that throws')
    const caught = await catching(async () => {
      const answered = decisions.map((_, i) => new Promise<void>((resolve) => {
        const sink: DecisionSink = {
          decided (d) {
            decisions[i] = d
            resolve()
            if (i === 0) throw boom
          },
          failed: () => t.fail('the batch failed')
        }
        store[consumeTo]([bucket], 1, 1_767_225_600_000, sink)
      }))
      await Promise.all(answered)
    })
    t.same(decisions.map((d) => d?.allowed), [true, true, false], 'one batch, decided in order')
    t.same(caught, [boom])
    await store.close()
  })

  t.test('a batch that fails: each sink hears it, even when one of them throws', async (t) => {
    const client = connect(t, server.port, { enableOfflineQueue: false, lazyConnect: true }) as unknown as RedisClient
    const store = new RedisStore({ client, keyPrefix: 'sinks:' })
    const failures: unknown[] = []
    const caught = await catching(async () => {
      await Promise.all([0, 1].map((i) => new Promise<void>((resolve) => {
        store[consumeTo]([bucket], 1, undefined, {
          decided: () => t.fail('decided'),
          failed (err) {
            failures.push(err)
            resolve()
            if (i === 0) throw new Error('a failing sink that throws')
          }
        })
      })))
    })
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
