// Costs known after the response (LLM tokens): a request is charged an estimate on arrival
// (`cost`) and settled once its real cost is known, by the `settle` option when the response
// ends (or is aborted), or by fastify.rateLimit.settle(request, cost) from the handler. More is
// charged even past the limit (debt), less is refunded, once.
import t from 'tap'
import type { Test } from 'tap'
import { Readable } from 'node:stream'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyLimiterOptions } from '../../index.js'
import { build, requiredOnlyStore, thrown } from '../support/helpers.js'
import { tempDir } from '../support/sqlite.js'
import { redisAvailable, startRedis } from '../support/redis.js'

/** The tokens a handler reports as used: the settle function reads them from the reply. */
const used = (_request: FastifyRequest, reply: FastifyReply) => Number(reply.getHeader('x-tokens'))

/** What the bucket has left for a request of cost 1 from 127.0.0.1 (peek: the left after that request, plus one). */
async function left (app: FastifyInstance, route = 'POST /chat'): Promise<number> {
  const d = await app.rateLimit.peek({ route, ip: '127.0.0.1' })
  return d?.allowed === true ? d.remaining + 1 : 0
}

/**
 * `left()` once it reads `expected`: a settlement is sent when the response has ended, and a
 * shared store takes it a round trip later. Gives up after a few seconds (then the assertion
 * fails with what it read).
 */
async function settles (app: FastifyInstance, expected: number, route = 'POST /chat'): Promise<number> {
  let value = await left(app, route)
  for (let i = 0; i < 200 && value !== expected; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    value = await left(app, route)
  }
  return value
}

const stores: Array<[string, (t: Test) => Promise<FastifyLimiterOptions | undefined>]> = [
  ['memory', async () => ({})],
  ['SQLite', async (t) => ({ sqlite: join(tempDir(t), 'settle.db') })],
  ['Redis', async (t) => {
    if (!redisAvailable(t)) return undefined
    const redis = await startRedis(t)
    return { redis: `redis://127.0.0.1:${redis.port}` }
  }]
]

for (const [name, options] of stores) {
  t.test(`${name}: the estimate becomes the settled cost: less is refunded, more is charged past the limit`, async (t) => {
    const opts = await options(t)
    // redisAvailable() said why (a failure under FASTIFY_LIMITER_REQUIRE_REDIS)
    if (opts === undefined) return
    const { app, clock } = await build({ algorithm: 'fixed-window', ...opts })
    t.teardown(() => app.close())
    app.post('/chat', { config: { rateLimit: { ip: '1000/min', cost: 100, settle: used } } }, async (request, reply) => {
      reply.header('x-tokens', request.headers['x-tokens'])
      return 'ok'
    })
    const chat = (tokens: number) => app.inject({ method: 'POST', url: '/chat', headers: { 'x-tokens': String(tokens) } })
    t.equal((await chat(30)).headers['x-ratelimit-remaining'], '900', 'charged the estimate on arrival')
    t.equal(await settles(app, 970), 970, 'settled to 30: 70 refunded')
    t.equal((await chat(500)).statusCode, 200)
    t.equal(await settles(app, 470), 470, 'settled to 500: 400 more charged')
    t.equal((await chat(2000)).statusCode, 200, 'the estimate fits, so the request passes')
    t.equal(await settles(app, 0), 0, 'settled to 2000: in debt (1530 over), remaining shows 0')
    const denied = await chat(1)
    t.equal(denied.statusCode, 429, 'denied while in debt')
    t.equal(denied.headers['x-ratelimit-remaining'], '0')
    clock.advance(40_000)
    t.equal((await chat(1)).statusCode, 200, 'the fixed window pays the debt back when it ends')
  })
}

t.test('token-bucket: a debt is paid back by the refill, to the millisecond', async (t) => {
  const { app, clock } = await build({ algorithm: 'token-bucket' })
  t.teardown(() => app.close())
  app.post('/chat', { config: { rateLimit: { ip: '10/s', settle: used } } }, async (request, reply) => {
    reply.header('x-tokens', request.headers['x-tokens'])
    return 'ok'
  })
  await app.inject({ method: 'POST', url: '/chat', headers: { 'x-tokens': '25' } })
  // 10 tokens - 25 = -15: one more token needs 16, at 10 per second
  const d = await app.rateLimit.peek({ route: 'POST /chat', ip: '127.0.0.1' })
  t.match(d, { allowed: false, remaining: 0, retryAfterMs: 1600 })
  clock.advance(1599)
  t.equal((await app.inject({ method: 'POST', url: '/chat', headers: { 'x-tokens': '1' } })).statusCode, 429)
  clock.advance(1)
  t.equal((await app.inject({ method: 'POST', url: '/chat', headers: { 'x-tokens': '1' } })).statusCode, 200)
})

t.test('fastify.rateLimit.settle() from the handler settles once; the settle function is not called after it', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  let called = 0
  const answers: boolean[] = []
  app.post('/chat', { config: { rateLimit: { ip: '100/min', cost: 10, settle: () => { called++; return 50 } } } }, async (request) => {
    answers.push(await app.rateLimit.settle(request, 3))
    answers.push(await app.rateLimit.settle(request, 90))
    return 'ok'
  })
  app.get('/plain', { config: { rateLimit: { ip: '100/min', cost: 10 } } }, async (request) => {
    answers.push(await app.rateLimit.settle(request, 40))
    return 'ok'
  })
  app.get('/free', { config: { rateLimit: false } }, async (request) => {
    answers.push(await app.rateLimit.settle(request, 40))
    return 'ok'
  })
  await app.inject({ method: 'POST', url: '/chat' })
  t.same(answers, [true, false], 'the first settles, the second finds nothing to settle')
  t.equal(called, 0, 'the settle function was not called')
  t.equal(await left(app), 97)
  await app.inject('/plain')
  t.equal(await left(app, 'GET /plain'), 60, 'a route without a settle function settles from its handler too')
  await app.inject('/free')
  t.same(answers.slice(2), [true, false], 'a request no limit charged: nothing to settle')
  await t.rejects(app.rateLimit.settle({ rateLimit: undefined } as never, 1), { code: 'FST_LIMITER_INVALID_SELECTOR' })
})

t.test('settled costs that are not integers from 0 are logged; the estimate stays', async (t) => {
  const logs: string[] = []
  const { app } = await build({ algorithm: 'fixed-window' }, { logger: { level: 'warn', stream: { write: (line: string) => logs.push(line) } } })
  t.teardown(() => app.close())
  let value: unknown = 0
  app.post('/chat', { config: { rateLimit: { ip: '100/min', cost: 10, settle: () => value as number } } }, async () => 'ok')
  let request: FastifyRequest | undefined
  app.get('/r', { config: { rateLimit: { ip: '5/min' } } }, async (req) => { request = req; return 'ok' })
  for (const bad of [-1, 1.5, Number.NaN, '7', 2 ** 41, undefined]) {
    value = bad
    await app.inject({ method: 'POST', url: '/chat' })
  }
  t.equal(await left(app), 40, 'each stayed charged its estimate')
  t.equal(logs.filter((l) => l.includes('FST_LIMITER_INVALID_SETTLED_COST')).length, 1, 'logged once a second per cause')
  value = 0
  await app.inject({ method: 'POST', url: '/chat' })
  t.equal(await left(app), 40, 'settled to 0: the whole estimate refunded')
  await app.inject('/r')
  for (const bad of [-1, 0.5, Number.NaN, 2 ** 41, '3']) {
    await t.rejects(app.rateLimit.settle(request as FastifyRequest, bad as number), { code: 'FST_LIMITER_INVALID_SETTLED_COST' })
  }
})

t.test('a settle function that throws or rejects is logged; the estimate stays', async (t) => {
  const logs: string[] = []
  const { app } = await build({ algorithm: 'fixed-window' }, { logger: { level: 'warn', stream: { write: (line: string) => logs.push(line) } } })
  t.teardown(() => app.close())
  app.post('/a', { config: { rateLimit: { ip: '100/min', cost: 10, settle: () => { throw new Error('no usage') } } } }, async () => 'ok')
  app.post('/b', { config: { rateLimit: { ip: '100/min', cost: 10, settle: async () => { throw new Error('usage down') } } } }, async () => 'ok')
  t.equal((await app.inject({ method: 'POST', url: '/a' })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/b' })).statusCode, 200)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(await left(app, 'POST /a'), 90)
  t.equal(await left(app, 'POST /b'), 90)
  t.equal(logs.filter((l) => l.includes('the settle function threw')).length, 2)
})

t.test('with count, a response that does not count is refunded whole; one that counts is settled', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  let settled = 0
  app.post('/chat', { config: { rateLimit: { ip: '100/min', cost: 10, count: 'successful', settle: () => { settled++; return 25 } } } }, async (request, reply) => {
    if (request.headers['x-fail'] !== undefined) return await reply.code(500).send('no')
    return 'ok'
  })
  await app.inject({ method: 'POST', url: '/chat', headers: { 'x-fail': '1' } })
  t.equal(await left(app), 100, 'a 500 does not count: refunded, not settled')
  await app.inject({ method: 'POST', url: '/chat' })
  t.equal(await left(app), 75, 'a 200 counts: settled to 25')
  t.equal(settled, 1)
})

t.test('a settlement of a charge made before reset() changes nothing', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  app.post('/chat', { config: { rateLimit: { ip: '100/min', cost: 10, settle: used } } }, async (request, reply) => {
    await app.rateLimit.reset(request)
    reply.header('x-tokens', '60')
    return 'ok'
  })
  await app.inject({ method: 'POST', url: '/chat' })
  t.equal(await left(app), 100, 'the 60 were not charged to the new bucket')
})

t.test('a streamed reply is settled when its stream ends, or is aborted, with what it streamed', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  const streamed = new WeakMap<FastifyRequest, number>()
  const settledWith: number[] = []
  app.post('/chat', {
    config: {
      rateLimit: {
        ip: '1000/min',
        cost: 100,
        settle: (request) => {
          const tokens = streamed.get(request) ?? 0
          settledWith.push(tokens)
          return tokens
        }
      }
    }
  }, async (request, reply) => {
    let sent = 0
    const words = Number(request.headers['x-words'])
    const stream = new Readable({
      read () {
        if (sent === words) return this.push(null)
        sent++
        streamed.set(request, sent)
        // one token a tick: an abort comes in the middle
        setTimeout(() => this.push(`token${sent} `), 5)
      }
    })
    return await reply.type('text/plain').send(stream)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const post = (words: number, abortAfter?: number) => new Promise<string>((resolve) => {
    const req = httpRequest({ port, host: '127.0.0.1', method: 'POST', path: '/chat', headers: { 'x-words': String(words) } }, (res) => {
      let body = ''
      res.on('data', (chunk) => {
        body += String(chunk)
        if (abortAfter !== undefined && body.split(' ').length > abortAfter) req.destroy()
      })
      res.on('end', () => resolve(body))
      res.on('close', () => resolve(body))
    })
    req.end()
  })
  t.equal((await post(40)).split(' ').length - 1, 40)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(settledWith, [40], 'settled to the 40 tokens streamed when the stream ended')
  t.equal(await left(app), 960)
  await post(400, 3)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(settledWith.length, 2, 'the aborted stream was settled too')
  t.ok(settledWith[1] >= 3 && settledWith[1] < 400, `with what it streamed (${settledWith[1]})`)
  t.equal(await left(app), 960 - settledWith[1])
})

t.test('a charge the fallback store made is settled there', async (t) => {
  let down = false
  const base = requiredOnlyStore(t, {})
  const memory = base as unknown as { consume: typeof base.consume }
  const store = { ...base, refund: () => {}, charge: () => {}, consume: (...args: Parameters<typeof base.consume>) => down ? Promise.reject(new Error('down')) : memory.consume(...args) }
  const { app } = await build({ algorithm: 'fixed-window', store })
  t.teardown(() => app.close())
  app.post('/chat', { config: { rateLimit: { ip: '100/min', cost: 10, settle: used } } }, async (request, reply) => {
    reply.header('x-tokens', request.headers['x-tokens'])
    return 'ok'
  })
  down = true
  t.equal((await app.inject({ method: 'POST', url: '/chat', headers: { 'x-tokens': '95' } })).headers['x-ratelimit-remaining'], '90', 'decided on the fallback')
  const second = await app.inject({ method: 'POST', url: '/chat', headers: { 'x-tokens': '1' } })
  t.equal(second.statusCode, 429, 'the fallback store was settled to 95: 5 left, and this request costs 10')
  t.equal(second.headers['x-ratelimit-remaining'], '5')
})

t.test('settle needs a store with refund() and charge()', async (t) => {
  const store = requiredOnlyStore(t, { refund: () => {} })
  const built = build({ store, settle: used })
  await t.rejects(built, { code: 'FST_LIMITER_STORE_LACKS_METHOD', message: /settle needs the store method charge\(\)/ })
  const { app } = await build({ store })
  t.equal(thrown(() => app.post('/chat', { config: { rateLimit: { ip: '1/min', settle: used } } }, async () => 'ok'))?.code, 'FST_LIMITER_STORE_LACKS_METHOD')
  await app.close()
})

t.test('a hook() limit settles too', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  app.post('/chat', { onRequest: app.rateLimit.hook({ ip: '100/min', cost: 10, settle: () => 2, group: 'llm' }) }, async () => 'ok')
  await app.inject({ method: 'POST', url: '/chat' })
  const d = await app.rateLimit.peek({ group: 'llm', ip: '127.0.0.1' })
  t.equal(d?.remaining, 97)
})
