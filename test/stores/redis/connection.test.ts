import t from 'tap'
import { serverOf, unreachable } from '../../../stores/redis-connection.js'

// How the Redis store words a client that is not connected (stores/redis-connection.ts); the
// store's own tests check it on real refused connections (store.test.ts, faults.test.ts).

t.test('the server is host:port from the client options, when the client has them', async (t) => {
  t.equal(serverOf({ host: 'redis.internal', port: 6380 }), 'redis.internal:6380')
  t.equal(serverOf({}), 'its server', 'a Cluster has no one host')
  t.equal(serverOf({ host: 'h' }), 'its server')
  t.equal(serverOf(undefined), 'its server', 'a client that is not an ioredis one')
})

t.test('the reason in words, with what the client said', async (t) => {
  const cases: Array<[unknown, string]> = [
    [Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6379'), { code: 'ECONNREFUSED' }), 'connection refused (connect ECONNREFUSED 10.0.0.1:6379)'],
    [Object.assign(new Error('getaddrinfo ENOTFOUND nope'), { code: 'ENOTFOUND' }), 'host not found (getaddrinfo ENOTFOUND nope)'],
    [Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }), 'connection timed out (connect ETIMEDOUT)'],
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'connection reset (read ECONNRESET)'],
    [new Error('WRONGPASS invalid username-password pair'), 'WRONGPASS invalid username-password pair'],
    [Object.assign(new Error('something new'), { code: 'ESOMETHING' }), 'something new'],
    [{ code: 42 }, '{"code":42}'],
    [undefined, "not connected (ioredis status 'connecting')"]
  ]
  for (const [error, reason] of cases) {
    const cause = new Error("Stream isn't writeable and enableOfflineQueue options is false")
    const err = unreachable({ server: '10.0.0.1:6379', error, status: 'connecting' }, cause) as Error & { code: string, cause: unknown }
    t.equal(err.code, 'FST_LIMITER_REDIS_UNREACHABLE')
    t.equal(err.message, `RedisStore: no connection to Redis at 10.0.0.1:6379: ${reason}`)
    t.equal(err.cause, cause)
  }
})
