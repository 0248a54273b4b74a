// Faults on a real redis-server: killed mid-run, paused with SIGSTOP then resumed, restarted
// empty, unreachable at startup. For each: no request waits much longer than storeTimeoutMs,
// no crash or unhandled rejection, the configured mode is followed, and limits are exact again
// after recovery. Plus the denial cache measured with INFO commandstats.
import t from 'tap'
import type { Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { RedisStore } from '../../../stores/redis.js'
import { build, captureLog } from '../../support/helpers.js'
import { Redis, freePort, redisAvailable, redisServerBin, startRedis, until } from '../../support/redis.js'

const rejections: unknown[] = []
process.on('unhandledRejection', (reason) => { rejections.push(reason) })

/** A bound on a request's wait that catches a hang but not a busy machine: timeout + margin. */
const HANG = 3_000

/** redis-server on a given port (to restart one where its clients look for it), stopped in teardown. */
async function redisOn (t: Test, port: number): Promise<{ pid: number, stop (): Promise<void> }> {
  const child = spawn(redisServerBin as string, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const exited = once(child, 'exit')
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  }
  t.teardown(stop)
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  probe.on('error', () => {})
  await until(`redis-server on ${port}`, async () => {
    try {
      if (probe.status !== 'ready') await probe.connect()
      return (await probe.ping()) === 'PONG'
    } catch {
      probe.disconnect()
      return false
    }
  })
  probe.disconnect()
  return { pid: child.pid as number, stop }
}

/**
 * A client that keeps reconnecting (as in production) and never prints its errors. Without
 * the offline queue a command fails at once while disconnected, instead of waiting and being
 * replayed (and counted) whenever the server returns: what docs/failure-modes.md recommends.
 */
function client (t: Test, port: number): Redis {
  const redis = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 50, enableOfflineQueue: false })
  redis.on('error', () => {})
  t.teardown(() => redis.disconnect())
  return redis
}

async function timed (send: () => Promise<{ statusCode: number, headers: Record<string, unknown> }>) {
  const started = performance.now()
  const res = await send()
  return { res, ms: performance.now() - started }
}

if (redisAvailable(t)) {
  t.test('Redis killed mid-run, then restarted empty on the same port', async (t) => {
    const port = await freePort()
    const first = await redisOn(t, port)
    const redis = client(t, port)
    await until('connected', () => redis.status === 'ready')
    const { app, clock } = await build({ store: new RedisStore({ client: redis }), storeTimeoutMs: 100 })
    t.teardown(() => app.close())
    app.get('/r', { config: { rateLimit: '5/min' } }, async () => 'ok')
    const r1 = await app.inject('/r')
    t.equal(r1.headers['x-ratelimit-remaining'], '4', 'Redis decides')
    await first.stop()
    await until('the client noticed', () => redis.status !== 'ready')
    const { res, ms } = await timed(() => app.inject('/r'))
    t.equal(res.statusCode, 200, "'fallback': decided on the local memory store")
    t.equal(res.headers['x-ratelimit-remaining'], '4', 'the fallback store counts from zero')
    t.ok(ms < HANG, `no hang (${Math.round(ms)} ms)`)
    t.equal((await app.rateLimit.stats()).storeErrors, 1)
    await redisOn(t, port) // restarted: empty
    clock.advance(1_000) // past the breaker
    await until('the client reconnected', async () => {
      clock.advance(1_000) // each failed try re-opens the breaker for a second
      return (await app.inject('/r')).headers['x-ratelimit-remaining'] === '4'
    })
    t.equal((await app.inject('/r')).headers['x-ratelimit-remaining'], '3', 'exact again on the empty Redis')
  })

  t.test('Redis paused with SIGSTOP (a hang), then resumed with SIGCONT', async (t) => {
    const server = await startRedis(t)
    const redis = client(t, server.port)
    await until('connected', () => redis.status === 'ready')
    const { app, clock } = await build({ store: new RedisStore({ client: redis }), storeTimeoutMs: 100 })
    t.teardown(() => app.close())
    app.get('/r', { config: { rateLimit: '10/min' } }, async () => 'ok')
    app.get('/deny', { config: { rateLimit: { ip: '10/min', onStoreError: 'deny' } } }, async () => 'ok')
    t.equal((await app.inject('/r')).headers['x-ratelimit-remaining'], '9')
    process.kill(server.pid, 'SIGSTOP')
    t.teardown(() => { try { process.kill(server.pid, 'SIGCONT') } catch {} })
    // issue 14: the breaker opens on timeouts in a row (five), never on one
    for (const hung of await Promise.all(Array.from({ length: 5 }, () => timed(() => app.inject('/r'))))) {
      t.equal(hung.res.statusCode, 200)
      t.ok(hung.ms >= 90 && hung.ms < HANG, `waited about storeTimeoutMs (${Math.round(hung.ms)} ms)`)
    }
    const skipped = await timed(() => app.inject('/deny'))
    t.equal(skipped.res.statusCode, 503, "'deny' while the breaker is open")
    t.equal((await app.rateLimit.stats()).storeErrors, 5, 'the open breaker did not ask the paused server')
    process.kill(server.pid, 'SIGCONT')
    clock.advance(1_000)
    // the timed-out requests' scripts ran when Redis resumed: Redis counted 6 on /r
    t.equal((await app.inject('/r')).headers['x-ratelimit-remaining'], '3', 'Redis decides again, exactly')
  })

  t.test('Redis unreachable at startup: the app starts, requests follow their mode, then Redis takes over', async (t) => {
    const port = await freePort()
    const { lines, logger } = captureLog('error')
    const { app, clock } = await build({ redis: `redis://127.0.0.1:${port}`, storeTimeoutMs: 100, onStoreError: 'allow' }, { logger })
    t.teardown(() => app.close())
    app.get('/r', { config: { rateLimit: '2/min' } }, async (request) => ({ limited: request.rateLimit !== undefined }))
    await app.ready()
    const refused = `no connection to Redis at 127.0.0.1:${port}: connection refused (connect ECONNREFUSED 127.0.0.1:${port})`
    t.same(lines.map((line) => line.msg), [
      `fastify-limiter: the rate-limit store is not ready (FST_LIMITER_REDIS_UNREACHABLE: RedisStore: ${refused}); requests follow onStoreError until it is`
    ])
    const { res, ms } = await timed(() => app.inject('/r'))
    t.equal(res.statusCode, 200)
    t.same(JSON.parse((res as unknown as { body: string }).body), { limited: false }, "'allow': through, undecided")
    t.ok(ms < HANG)
    const failed = lines[1]
    t.match(failed, { msg: /^fastify-limiter: the rate-limit store failed \(letting requests through/, onStoreError: 'allow' })
    t.match(failed.err, { code: 'FST_LIMITER_REDIS_UNREACHABLE', message: `RedisStore: ${refused}` },
      'refused at once, and said so: a queued call would have been logged as a timeout (FST_LIMITER_STORE_TIMEOUT)')
    for (let i = 0; i < 5; i++) t.equal((await app.inject('/r')).statusCode, 200)
    await redisOn(t, port)
    clock.advance(1_000)
    await until('the client connected', async () => {
      clock.advance(1_000)
      return (await app.inject('/r')).headers['x-ratelimit-limit'] === '2'
    })
    t.equal((await app.inject('/r')).headers['x-ratelimit-remaining'], '0',
      'the first request Redis decided left 1: none of the requests sent while it was down was queued and replayed')
    t.equal((await app.inject('/r')).statusCode, 429, 'Redis limits now')
  })

  t.test('a client flooding a route it is blocked on causes zero Redis commands after its first denial', async (t) => {
    const server = await startRedis(t)
    const redis = client(t, server.port)
    await until('connected', () => redis.status === 'ready')
    const { app } = await build({ store: new RedisStore({ client: redis }) })
    t.teardown(() => app.close())
    app.get('/r', { config: { rateLimit: '3/min' } }, async () => 'ok')
    for (let i = 0; i < 4; i++) await app.inject('/r')
    const calls = async () => {
      const info = await redis.info('commandstats')
      return [...info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)]
        .filter(([, name]) => name !== 'info')
        .reduce((sum, [, , n]) => sum + Number(n), 0)
    }
    const before = await calls()
    const codes = await Promise.all(Array.from({ length: 500 }, () => app.inject('/r').then((r) => r.statusCode)))
    t.ok(codes.every((c) => c === 429))
    const after = await calls()
    t.equal(after - before, 0, `commands during 500 denied requests: ${after - before}`)
  })

  t.test('no unhandled rejection in any of the above', async (t) => {
    t.same(rejections, [])
  })
}
