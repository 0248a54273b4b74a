import t from 'tap'
import type { FastifyRequest } from 'fastify'
import type { ExceedingContext, LimitContext } from '../../index.js'
import { build, captureLog, hit } from '../support/helpers.js'

// `onExceeding(request, context)` (issue 20, item 4): @fastify/rate-limit's callback for each
// request of a limited route that the limit lets through, on the plugin and on routes (where
// `onExceeded` may now be set too). The two are the two sides of a decision that charges: each
// such decision calls one of them.

const ok = async () => ({ ok: true })

t.test('each allowed request calls onExceeding with its decision and route; each denial onExceeded', async (t) => {
  const exceeding: ExceedingContext[] = []
  const exceeded: LimitContext[] = []
  const { app, clock } = await build({
    onExceeding: (request, context) => { exceeding.push(context) },
    onExceeded: (request, context) => { exceeded.push(context) }
  })
  app.get('/r', { config: { rateLimit: '2/min' } }, ok)
  t.same(await hit(app, '/r', 3), [200, 200, 429])
  t.equal(exceeding.length, 2, "as @fastify/rate-limit's test: twice for two allowed requests")
  t.equal(exceeded.length, 1)
  t.same(exceeding[1], {
    allowed: true,
    limit: 2,
    remaining: 0,
    resetMs: exceeding[1].resetMs,
    retryAfterMs: 0,
    bucket: 'ip',
    rate: '2/min',
    route: 'GET /r'
  })
  t.ok(exceeding[1].resetMs > clock.now)
})

t.test("a route's onExceeding and onExceeded override the plugin's", async (t) => {
  const calls: string[] = []
  const { app } = await build({
    onExceeding: () => { calls.push('plugin exceeding') },
    onExceeded: () => { calls.push('plugin exceeded') }
  })
  app.get('/own', {
    config: {
      rateLimit: {
        ip: '1/min',
        onExceeding: (request, context) => { calls.push(`route exceeding ${context.remaining}`) },
        onExceeded: (request, context) => { calls.push(`route exceeded ${context.statusCode}`) }
      }
    }
  }, ok)
  app.get('/plugin', { config: { rateLimit: '1/min' } }, ok)
  await hit(app, '/own', 2)
  await hit(app, '/plugin', 2)
  t.same(calls, ['route exceeding 0', 'route exceeded 429', 'plugin exceeding', 'plugin exceeded'])
})

t.test('not called for an exempt request, peek(), or consume() of a selector; called for consume() of a request', async (t) => {
  const seen: string[] = []
  const { app } = await build({ exempt: ['10.0.0.1'], onExceeding: (request, context) => { seen.push(`${request.url} ${context.remaining}`) } }, { trustProxy: true })
  let request: FastifyRequest | undefined
  app.get('/r', { config: { rateLimit: '5/min' } }, async (r) => { request = r; return 'ok' })
  await app.inject({ url: '/r', headers: { 'x-forwarded-for': '10.0.0.1' } })
  t.same(seen, [], 'exempt: no decision')
  await app.inject('/r')
  t.same(seen, ['/r 4'])
  await app.rateLimit.peek({ route: 'GET /r', ip: '127.0.0.1' })
  await app.rateLimit.consume({ route: 'GET /r', ip: '127.0.0.1' })
  t.same(seen, ['/r 4'], 'a selector has no request to pass')
  await app.rateLimit.consume(request as FastifyRequest)
  t.same(seen, ['/r 4', '/r 2'], 'consume() of a request charges, and tells, as the hook does')
})

t.test('its failures, thrown or rejected, are logged and never change the response; the response does not wait for it', async (t) => {
  const { lines, logger } = captureLog('error')
  let calls = 0
  const { app } = await build({
    onExceeding: () => {
      calls++
      if (calls === 1) throw new Error('sync failure')
      if (calls === 2) return Promise.reject(new Error('async failure'))
      return new Promise<void>(() => {})
    }
  }, { logger })
  app.get('/r', { config: { rateLimit: '5/min' } }, ok)
  t.same(await hit(app, '/r', 3), [200, 200, 200], 'the third never settles, and the response went out')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(lines.filter((l) => l.msg === 'fastify-limiter: onExceeding failed').length, 2)
})

t.test('a request that waited instead of a 429 (delay) is told how long', async (t) => {
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(alive))
  const contexts: ExceedingContext[] = []
  // the second request is denied at read 2, then the clock moves past the window: it waits and passes
  let now = 1_700_000_000_000
  let reads = 0
  const clock = () => {
    const value = now
    if (++reads === 2) now += 200
    return value
  }
  const { app } = await build({ clock, delay: { maxMs: 1000 }, onExceeding: (request, context) => { contexts.push(context) } })
  app.get('/r', { config: { rateLimit: { ip: { limit: 1, windowMs: 200 }, algorithm: 'fixed-window' } } }, ok)
  t.same(await hit(app, '/r', 2), [200, 200])
  t.same(contexts.map((c) => c.delayedMs), [undefined, 200])
})
