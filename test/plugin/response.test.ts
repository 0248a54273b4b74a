import t from 'tap'
import { build } from '../support/helpers.js'
import { humanAfter } from '../../lib/request/response.js'
import type { LimitContext } from '../../index.js'

const ok = async () => ({ ok: true })

t.test('the default 429 body is { statusCode, error, message }', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  await app.inject('/r')
  const res = await app.inject('/r')
  t.equal(res.statusCode, 429)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.same(res.json(), { statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded, retry in 40 seconds' })
})

t.test('errorResponseBuilder gets the request and the context and shapes the body', async (t) => {
  const seen: LimitContext[] = []
  const { app } = await build({
    algorithm: 'fixed-window',
    errorResponseBuilder: (request, context) => {
      seen.push(context)
      return { code: 'SLOW_DOWN', url: request.url, wait: context.retryAfter }
    }
  })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  await app.inject('/r')
  const res = await app.inject('/r')
  t.equal(res.statusCode, 429)
  t.same(res.json(), { code: 'SLOW_DOWN', url: '/r', wait: 40 })
  t.match(seen[0], {
    statusCode: 429,
    allowed: false,
    limit: 1,
    remaining: 0,
    retryAfterMs: 40_000,
    retryAfter: 40,
    after: '40 seconds',
    bucket: 'ip',
    rate: '1/min',
    route: 'GET /r',
    dryRun: false
  })
})

t.test('an errorResponseBuilder that throws gives Fastify its error', async (t) => {
  const { app } = await build({ errorResponseBuilder: () => { throw new Error('builder broke') } })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  await app.inject('/r')
  const res = await app.inject('/r')
  t.equal(res.statusCode, 500)
  t.equal(res.json().message, 'builder broke')
})

t.test('onExceeded is told about each denial; its failures are logged, never thrown', async (t) => {
  const calls: string[] = []
  const logs: string[] = []
  const { app } = await build({
    onExceeded: (request, context) => {
      calls.push(`${request.url} ${context.retryAfterMs > 0}`)
      if (calls.length === 2) throw new Error('sync failure')
      if (calls.length === 3) return Promise.reject(new Error('async failure')) as unknown as void
    }
  }, {
    logger: { level: 'error', stream: { write: (line: string) => { logs.push(line) } } }
  })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  await app.inject('/r')
  for (let i = 0; i < 3; i++) t.equal((await app.inject('/r')).statusCode, 429)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(calls, ['/r true', '/r true', '/r true'])
  t.equal(logs.filter((l) => l.includes('onExceeded failed')).length, 2)
})

t.test('the 429 path does not create Error objects', async (t) => {
  const { app } = await build()
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  await app.inject('/r')
  const OriginalError = globalThis.Error
  let created = 0
  const Counting = new Proxy(OriginalError, {
    construct (target, args, newTarget) {
      created++
      return Reflect.construct(target, args, newTarget)
    }
  })
  globalThis.Error = Counting
  let status: number
  try {
    status = (await app.inject('/r')).statusCode
  } finally {
    globalThis.Error = OriginalError
  }
  t.equal(status, 429)
  t.equal(created, 0)
})

t.test('humanAfter', async (t) => {
  t.equal(humanAfter(1), '1 second')
  t.equal(humanAfter(0), '0 seconds')
  t.equal(humanAfter(119), '119 seconds')
  t.equal(humanAfter(120), '2 minutes')
  t.equal(humanAfter(121), '3 minutes')
  t.equal(humanAfter(7200), '2 hours')
  t.equal(humanAfter(3 * 86_400), '3 days')
})
