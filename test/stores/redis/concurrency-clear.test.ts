// fastify.rateLimit.clear() and reset() on Redis drop the concurrency slots (leases) of what they
// forget, as on memory and SQLite (test/concurrency.test.ts): clear() by its key prefix (slot keys
// share it), reset() by the slot keys of the identities it names.
import t from 'tap'
import Fastify from 'fastify'
import type { FastifyRequest } from 'fastify'
import limiter from '../../../index.js'
import { RedisStore } from '../../../stores/redis.js'
import { connect, redisAvailable, startRedis } from '../../support/redis.js'

async function until (check: () => boolean | Promise<boolean>): Promise<void> {
  // waits for an event, not a duration: the test's own timeout bounds it
  while (!await check()) await new Promise((resolve) => setTimeout(resolve, 5))
}

if (redisAvailable(t)) {
  const server = await startRedis(t)
  t.test('Redis: clear() and reset() drop the slots of the identities they forget; another prefix keeps its own', async (t) => {
    const redis = connect(t, server.port)
    // connected first: a slot taken while the client connects could time out and be decided on the fallback
    await redis.ping()
    const fastify = Fastify()
    t.teardown(() => fastify.close())
    let open = () => {}
    const opened = new Promise<void>((resolve) => { open = resolve })
    let entered = 0
    const seen: FastifyRequest[] = []
    const slots = { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } } } as const
    let api = fastify.rateLimit
    await fastify.register(async (scope) => {
      await scope.register(limiter, { store: new RedisStore({ client: redis }) })
      api = scope.rateLimit
      scope.get('/r', slots, async (request) => {
        entered++
        seen.push(request)
        await opened
        return 'ok'
      })
    })
    // another registration on the same server, under its own prefix: never cleared by the first
    await fastify.register(async (scope) => {
      await scope.register(limiter, { store: new RedisStore({ client: redis }), keyPrefix: 'other' })
      scope.get('/o', slots, async () => {
        await opened
        return 'ok'
      })
    })
    const inFlight: Array<Promise<{ statusCode: number }>> = []
    async function hold (): Promise<void> {
      let refused = 0
      inFlight.push(fastify.inject('/r').then((res) => {
        if (res.statusCode === 429) refused++
        return res
      }))
      await until(() => entered === inFlight.length || refused > 0)
      t.equal(refused, 0, 'it got the slot')
      t.equal((await fastify.inject('/r')).statusCode, 429, 'the slot is held')
    }
    t.teardown(() => open())
    const other = fastify.inject('/o')
    await until(async () => await redis.exists('limiter:other:{GET%20/o:ip:127.0.0.1}:inflight') === 1)
    await hold()
    await api.clear()
    await hold()
    await api.reset({ ip: '127.0.0.1' })
    await hold()
    await api.reset(seen[seen.length - 1])
    await hold()
    t.equal((await fastify.inject('/o')).statusCode, 429, 'the other prefix kept its slot')
    open()
    t.same((await Promise.all([...inFlight, other])).map((r) => r.statusCode), [200, 200, 200, 200, 200])
  })
}
