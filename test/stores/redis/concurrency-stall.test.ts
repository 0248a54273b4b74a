// Concurrency slots on a stalled Redis (SIGSTOP): taking a slot is bounded by storeTimeoutMs and
// follows onStoreError like a rate's consume; a release that times out is logged once and never
// throws; and the slots the stalled server grants late, once resumed, are given back at once
// instead of lingering until their lease ends.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { RedisStore } from '../../../stores/redis.js'
import { build } from '../../support/helpers.js'
import { Redis, redisAvailable, startRedis, until } from '../../support/redis.js'

const rejections: unknown[] = []
process.on('unhandledRejection', (reason) => { rejections.push(reason) })

/** A bound on a request's wait that catches a hang but not a busy machine: timeout + margin. */
const HANG = 3_000

/** The request's answer, or 'hung' when it took longer than HANG. */
async function bounded<T> (pending: Promise<T>): Promise<T | 'hung'> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<'hung'>((resolve) => { timer = setTimeout(() => resolve('hung'), HANG) })
  try {
    return await Promise.race([pending, hung])
  } finally {
    clearTimeout(timer)
  }
}

/** A handler that holds each request until `open()`; `entered` counts who got in. */
function gate () {
  let open = () => {}
  const opened = new Promise<void>((resolve) => { open = resolve })
  const state = {
    entered: 0,
    open: () => open(),
    handler: async (request: FastifyRequest) => {
      state.entered++
      await opened
      return { inFlight: request.rateLimit?.inFlight }
    }
  }
  return state
}

/** Leases held under every slot key of the server. */
async function leases (redis: Redis): Promise<number> {
  let held = 0
  for (const key of await redis.keys('*:inflight')) held += await redis.zcard(key)
  return held
}

if (redisAvailable(t)) {
  t.test('a stalled Redis never hangs a request on a concurrency route; nothing leaks once it resumes', async (t) => {
    const server = await startRedis(t)
    const redis = new Redis({ port: server.port, host: '127.0.0.1', retryStrategy: () => 50, enableOfflineQueue: false })
    redis.on('error', () => {})
    t.teardown(() => redis.disconnect())
    const probe = new Redis({ port: server.port, host: '127.0.0.1' })
    t.teardown(() => probe.disconnect())
    await until('connected', () => redis.status === 'ready')
    const lines: Array<Record<string, any>> = []
    const logger = { level: 'error', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } }
    const { app, clock } = await build({ store: new RedisStore({ client: redis }), storeTimeoutMs: 100 }, { logger })
    t.teardown(() => app.close())
    const held = gate()
    const again = gate()
    const slots = { ip: 1 }
    app.get('/held', { config: { rateLimit: { ip: '100/min', concurrency: slots } } }, held.handler)
    app.get('/again', { config: { rateLimit: { ip: '100/min', concurrency: slots } } }, again.handler)
    for (const mode of ['fallback', 'allow', 'deny'] as const) {
      app.get(`/${mode}`, { config: { rateLimit: { ip: '100/min', concurrency: slots, onStoreError: mode } } }, async (request) => ({ inFlight: request.rateLimit?.inFlight }))
    }
    // a slot held on Redis when it stalls
    const holding = app.inject('/held')
    await until('the first request holds its slot', () => held.entered === 1)
    t.equal(await leases(probe), 1)

    process.kill(server.pid, 'SIGSTOP')
    t.teardown(() => { try { process.kill(server.pid, 'SIGCONT') } catch {} })
    const denied = await bounded(app.inject('/deny'))
    t.not(denied, 'hung', "'deny': answered, not hung")
    t.equal(denied !== 'hung' && denied.statusCode, 503)
    const allowed = await bounded(app.inject('/allow'))
    t.not(allowed, 'hung', "'allow': answered, not hung")
    t.same(allowed !== 'hung' && [allowed.statusCode, allowed.json().inFlight], [200, undefined], "'allow': through without a slot")
    const fallback = await bounded(app.inject('/fallback'))
    t.not(fallback, 'hung', "'fallback': answered, not hung")
    t.same(fallback !== 'hung' && [fallback.statusCode, fallback.json().inFlight], [200, undefined], "'fallback': a slot on the local memory store")
    // five timeouts in a row (an acquire, or an acquire and a consume, per request) opened the breaker
    const stats = await app.rateLimit.stats()
    t.equal(stats.storeErrors - stats.degraded, 0, 'every store error was decided without the store')
    const skipped = await bounded(app.inject('/deny'))
    t.equal(skipped !== 'hung' && skipped.statusCode, 503, "'deny' while the breaker is open")
    t.equal((await app.rateLimit.stats()).storeErrors, stats.storeErrors, 'the open breaker did not ask the paused server')

    // the held request ends while Redis is stalled: its release times out, logged once
    held.open()
    t.equal((await holding).statusCode, 200)
    await until('the release timed out', () => lines.some((l) => /releasing a concurrency slot/.test(l.msg)))
    t.equal(lines.filter((l) => /releasing a concurrency slot/.test(l.msg)).length, 1, 'logged once')
    t.equal(lines.find((l) => /releasing a concurrency slot/.test(l.msg))?.err.code, 'FST_LIMITER_STORE_TIMEOUT')

    process.kill(server.pid, 'SIGCONT')
    // the acquires the stalled server received ran when it resumed: their slots are given back,
    // and so is the held one (its release was sent before it timed out)
    await until('no lease left', async () => await leases(probe) === 0)
    t.equal(lines.filter((l) => /releasing a concurrency slot/.test(l.msg)).length, 1, 'still logged once')

    // the breaker lets Redis decide again: exact slots
    clock.advance(1_000)
    t.equal((await app.inject('/fallback')).statusCode, 200, 'the probe closes the breaker')
    const first = app.inject('/again')
    await until('a slot held on Redis again', () => again.entered === 1)
    t.equal(await leases(probe), 1)
    const refused = await app.inject('/again')
    t.equal(refused.statusCode, 429)
    t.match(refused.headers, { 'retry-after': '1' })
    again.open()
    t.equal((await first).statusCode, 200)
    await until('released', async () => await leases(probe) === 0)
    t.same(rejections, [], 'no unhandled rejection')
  })
}
