import t from 'tap'
import { connect, redisAvailable, redisConformance, startRedis } from '../../support/redis.js'

// The shared store suite, against a real redis-server: once with the suite's hand-moved clock
// injected, once on the Redis server's own clock (TIME), as production runs it.

if (redisAvailable(t)) {
  const server = await startRedis(t)
  await redisConformance(t, { name: 'RedisStore', client: connect(t, server.port), prefix: 'conformance' })
}
