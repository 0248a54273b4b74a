import t from 'tap'
import { storeConformance } from '../../../stores/conformance.js'
import { RedisStore } from '../../../stores/redis.js'
import { connect, redisAvailable, startRedis } from '../../support/redis.js'

// The shared store suite, against a real redis-server: once with the suite's hand-moved clock
// injected, once on the Redis server's own clock (TIME), as production runs it. Each store of
// the suite gets its own key prefix on the one server.

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const client = connect(t, server.port)
  let stores = 0

  await storeConformance(t, {
    name: 'RedisStore',
    makeStore: (clock) => new RedisStore({ client, clock, keyPrefix: `conformance-${stores++}:` })
  })

  await storeConformance(t, {
    name: 'RedisStore on the server clock',
    supportsInjectedClock: false,
    makeStore: () => new RedisStore({ client, keyPrefix: `conformance-${stores++}:` })
  })
}
