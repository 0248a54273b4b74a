import t from 'tap'
import { clearsItsOwn, threeApps } from '../../support/clear-prefix.js'
import { redisAvailable, startRedis } from '../../support/redis.js'

// fastify.rateLimit.clear() on Redis: three apps, each with its own client, on one server.

if (redisAvailable(t)) {
  const server = await startRedis(t)
  t.test('Redis: three apps with their own clients on one server', async (t) => {
    await clearsItsOwn(t, await threeApps(t, () => ({ redis: `redis://127.0.0.1:${server.port}` })))
  })
}
