// Waiting instead of a 429 (`delay`). The decisions run on an injected clock that the tests move
// at chosen clock reads, so who passes, in which order and after how long (on that clock) is
// exact; the waits themselves are real unref'd timers of a few hundred ms, and nothing here
// asserts how long they really took.
import t from 'tap'
import Fastify from 'fastify'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import limiter, { MemoryStore } from '../../index.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { thrown } from '../support/helpers.js'

const T0 = 1_700_000_000_000 // a multiple of 200: fixed windows of 200 ms start here
/** One request per 200 ms fixed window: a denied request can pass at the next window. */
const RATE = { ip: { limit: 1, windowMs: 200 }, algorithm: 'fixed-window' } as const

/** A clock that `step(read)` may move after each read (reads are counted from 1). */
function steppedClock (step: (read: number) => number) {
  const clock = { now: T0, reads: 0, read: () => 0 }
  clock.read = () => {
    const value = clock.now
    clock.now += step(++clock.reads)
    return value
  }
  return clock
}

async function app (options: FastifyLimiterOptions): Promise<FastifyInstance> {
  const fastify = Fastify()
  await fastify.register(limiter, options)
  return fastify
}

// The wait timers are unref'd (a waiting request must not keep a closing process alive); with
// inject there is no socket to keep this one alive while requests wait, so each test holds it
t.beforeEach((t) => {
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(alive))
})

const handler = async (request: { rateLimit?: unknown }) => request.rateLimit

t.test('a short denial waits and passes instead of a 429, charged once, with delayedMs', async (t) => {
  // read 1: request 1 (passes); read 2: request 2 (denied, 200 ms to wait), then the clock moves 200 ms
  const clock = steppedClock((read) => read === 2 ? 200 : 0)
  const fastify = await app({ clock: clock.read, delay: { maxMs: 1000 } })
  t.teardown(() => fastify.close())
  fastify.get('/r', { config: { rateLimit: RATE } }, handler)
  const first = await fastify.inject('/r')
  t.equal(first.statusCode, 200)
  t.equal(first.json().delayedMs, undefined, 'a request that did not wait has no delayedMs')
  const waited = await fastify.inject('/r')
  t.equal(waited.statusCode, 200, 'no 429')
  t.match(waited.json(), { allowed: true, remaining: 0, delayedMs: 200 })
  const stats = await fastify.rateLimit.stats()
  t.match(stats, { allowed: 2, denied: 0, delayed: 1, delayAborted: 0 })
  t.match(stats.routes['GET /r'], { allowed: 2, denied: 0, delayed: 1, delayAborted: 0 })
  t.equal(clock.reads, 3, 'decided again once: charged only when it passed')
})

t.test('a wait longer than maxMs, or no delay on the route, is a 429 at once', async (t) => {
  const clock = steppedClock(() => 0)
  const fastify = await app({ clock: clock.read, delay: { maxMs: 100 } })
  t.teardown(() => fastify.close())
  fastify.get('/long', { config: { rateLimit: RATE } }, handler)
  fastify.get('/off', { config: { rateLimit: { ...RATE, delay: false } } }, handler)
  fastify.get('/own', { config: { rateLimit: { ...RATE, delay: { maxMs: 50 } } } }, handler)
  for (const url of ['/long', '/off', '/own']) {
    t.equal((await fastify.inject(url)).statusCode, 200)
    const denied = await fastify.inject(url)
    t.equal(denied.statusCode, 429, url)
    t.equal(denied.headers['retry-after'], '1')
  }
  t.equal((await fastify.rateLimit.stats()).delayed, 0)
  t.equal((await fastify.rateLimit.stats()).routes['GET /long'].delayed, undefined, 'delay counters appear once a request waited')
})

t.test('waiting requests of one identity pass in arrival order, newcomers queue behind them', async (t) => {
  // every read moves the clock 100 ms: a request arriving while others wait would pass at once
  // if it could overtake them
  const clock = steppedClock(() => 100)
  const fastify = await app({ clock: clock.read, delay: { maxMs: 10_000 } })
  t.teardown(() => fastify.close())
  const order: string[] = []
  fastify.get('/r', { config: { rateLimit: RATE } }, async (request) => {
    order.push(request.headers['x-n'] as string)
    return request.rateLimit
  })
  t.equal((await fastify.inject({ url: '/r', headers: { 'x-n': '1' } })).statusCode, 200)
  const pending = []
  for (const n of ['2', '3', '4']) {
    pending.push(fastify.inject({ url: '/r', headers: { 'x-n': n } }))
    await new Promise((resolve) => setImmediate(resolve))
  }
  const answers = await Promise.all(pending)
  t.same(answers.map((a) => a.statusCode), [200, 200, 200])
  t.same(order, ['1', '2', '3', '4'])
  for (const a of answers) t.ok(a.json().delayedMs > 0)
  t.equal((await fastify.rateLimit.stats()).delayed, 3)
})

t.test('at most queue requests wait per route; past it, a 429; a wait past maxMs ends in a 429', async (t) => {
  const clock = steppedClock(() => 0) // the clock never moves: the waiting request can never pass
  const fastify = await app({ clock: clock.read })
  t.teardown(() => fastify.close())
  fastify.get('/r', { config: { rateLimit: { ...RATE, delay: { maxMs: 300, queue: 1 } } } }, handler)
  t.equal((await fastify.inject('/r')).statusCode, 200)
  const waiting = fastify.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  const full = await fastify.inject('/r')
  t.equal(full.statusCode, 429, 'the queue is full')
  t.equal((await waiting).statusCode, 429, 'decided again after 200 ms, denied with 200 ms more to wait: past maxMs')
  const stats = await fastify.rateLimit.stats()
  t.match(stats, { allowed: 1, denied: 2, delayed: 0 })
})

t.test('a client that disconnects while waiting is dropped and charged nothing', async (t) => {
  const controller = new AbortController()
  // read 2 is the waiting request's decision: it is aborted right after
  const clock = steppedClock((read) => {
    if (read === 2) setImmediate(() => controller.abort())
    return 0
  })
  const fastify = await app({ clock: clock.read, delay: { maxMs: 5000 } })
  t.teardown(() => fastify.close())
  fastify.get('/r', { config: { rateLimit: { ...RATE, ip: { limit: 2, windowMs: 200 }, cost: 2 } } }, handler)
  t.equal((await fastify.inject('/r')).statusCode, 200)
  await t.rejects(fastify.inject({ url: '/r', signal: controller.signal }))
  await new Promise((resolve) => setTimeout(resolve, 50))
  const stats = await fastify.rateLimit.stats()
  t.match(stats, { allowed: 1, denied: 0, delayed: 0, delayAborted: 1 })
  clock.now += 200
  const next = await fastify.inject('/r')
  t.match(next.json(), { allowed: true, remaining: 0 }, 'a fresh window: nothing was charged for the dropped request')
  t.equal(clock.reads, 3, 'the dropped request was never decided again')
})

t.test('on close, waiting requests are decided at once', async (t) => {
  const clock = steppedClock(() => 0)
  const fastify = await app({ clock: clock.read, delay: { maxMs: 60_000 } })
  // two windows: a request's line is kept by both its store keys
  fastify.get('/r', { config: { rateLimit: { ip: [{ limit: 1, windowMs: 60_000 }, { limit: 5, windowMs: 120_000 }], algorithm: 'fixed-window' } } }, handler)
  t.equal((await fastify.inject('/r')).statusCode, 200)
  const waiting = fastify.inject('/r')
  const behind = fastify.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  await fastify.close()
  t.same([(await waiting).statusCode, (await behind).statusCode], [429, 429])
})

t.test('delayed requests are metrics too', async (t) => {
  const clock = steppedClock((read) => read === 2 ? 200 : 0)
  const registry = new Registry()
  const fastify = await app({ clock: clock.read, delay: { maxMs: 1000 }, metrics: { registry } })
  t.teardown(() => fastify.close())
  fastify.get('/r', { config: { rateLimit: RATE } }, handler)
  await fastify.inject('/r')
  await fastify.inject('/r')
  const text = await registry.metrics()
  t.match(text, /fastify_limiter_delayed_total\{route="GET \/r"\} 1/)
  t.match(text, /fastify_limiter_delay_aborted_total\{route="GET \/r"\} 0/)
})

t.test('delay options are checked at registration', async (t) => {
  await t.rejects(app({ delay: { maxMs: 0 } }), { code: 'FST_LIMITER_INVALID_OPTION' })
  await t.rejects(app({ delay: { maxMs: 10, queue: 1.5 } }), { code: 'FST_LIMITER_INVALID_OPTION' })
  const fastify = await app({})
  t.teardown(() => fastify.close())
  for (const delay of [{ maxMs: 60_001 }, { maxMs: 10, queue: 0 }, { maxMs: 10, wait: 1 }, true]) {
    const err = thrown(() => fastify.get('/x', { config: { rateLimit: { ip: '1/s', delay: delay as never } } }, handler))
    t.equal(err?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG', JSON.stringify(delay))
  }
})

t.test('without a clock, delayedMs is measured on the monotonic clock', async (t) => {
  const fastify = await app({ delay: { maxMs: 5000 } })
  t.teardown(() => fastify.close())
  // a sliding log has no window boundary the two requests could fall on either side of (a fixed
  // window of 100 ms let both pass on a busy machine): the second waits up to 500 ms, unless the
  // machine stalls longer than that between two requests sent in the same turn
  fastify.get('/r', { config: { rateLimit: { ip: { limit: 1, windowMs: 500 }, algorithm: 'sliding-log' } } }, handler)
  const answers = await Promise.all([fastify.inject('/r'), fastify.inject('/r')])
  t.same(answers.map((a) => a.statusCode), [200, 200])
  const waited = answers.map((a) => a.json().delayedMs).filter((ms) => ms !== undefined)
  t.equal(waited.length, 1, 'one of them waited')
  t.ok(Number.isInteger(waited[0]) && waited[0] >= 0)
})

/** Sends a request to a listening app and destroys it when `abort` is called. */
function send (fastify: FastifyInstance, method: string, body?: string) {
  const { port } = fastify.server.address() as AddressInfo
  const req = httpRequest({ port, host: '127.0.0.1', method, path: '/r', headers: body === undefined ? {} : { 'content-type': 'application/json' } })
  req.on('error', () => {}) // the abort
  req.end(body)
  return req
}

async function until (check: () => Promise<boolean>): Promise<void> {
  // waits for an event, not a duration: the test's own timeout bounds it
  while (!await check()) await new Promise((resolve) => setTimeout(resolve, 10))
}

for (const [method, hook, body] of [['GET', 'onRequest', undefined], ['POST', 'preHandler', '{"a":1}']] as const) {
  t.test(`over HTTP, a ${method} whose client goes away while waiting (${hook}) is dropped`, async (t) => {
    const client: { request?: ReturnType<typeof send> } = {}
    const clock = steppedClock((read) => {
      if (read === 2) setImmediate(() => client.request?.destroy())
      return 0
    })
    const fastify = await app({ clock: clock.read, delay: { maxMs: 5000 }, hook })
    t.teardown(() => fastify.close())
    fastify.route({ method, url: '/r', config: { rateLimit: RATE }, handler })
    await fastify.listen({ port: 0, host: '127.0.0.1' })
    await new Promise<void>((resolve) => send(fastify, method, body).on('response', (res) => { res.resume(); resolve() }))
    client.request = send(fastify, method, body)
    await until(async () => (await fastify.rateLimit.stats()).delayAborted === 1)
    t.match(await fastify.rateLimit.stats(), { allowed: 1, denied: 0, delayed: 0, delayAborted: 1 })
    t.equal(clock.reads, 2, 'never decided again')
  })
}

t.test('a waiting request whose second decision fails follows onStoreError and lets the next one on', async (t) => {
  let reads = 0
  const clock = () => {
    // reads: 1 passes, 2 waits, 3 queues behind it, 4 decides the waiting one again
    if (++reads === 4) throw new Error('clock broke')
    return T0
  }
  const fastify = await app({ clock, delay: { maxMs: 300 }, onStoreError: 'allow' })
  t.teardown(() => fastify.close())
  fastify.get('/r', { config: { rateLimit: RATE } }, handler)
  t.equal((await fastify.inject('/r')).statusCode, 200)
  const waiting = fastify.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  const behind = fastify.inject('/r')
  const first = await waiting
  t.equal(first.statusCode, 200, "read 4 threw: let through ('allow')")
  t.equal(first.body, '', 'without a decision')
  t.equal((await behind).statusCode, 429, 'then the one behind it was decided: 200 ms more to wait after about 200 ms waited is past maxMs')
  t.match(await fastify.rateLimit.stats(), { degraded: 1, storeErrors: 1, delayed: 0 })
})

/** A memory store that counts the concurrency slots it holds. */
class SlotCounter extends MemoryStore {
  held = 0
  taken = 0
  /** Set to refuse every slot, as when other app servers hold them all. */
  full = false
  override acquire (key: string, limit: number, leaseMs?: number, now?: number) {
    if (this.full) return { allowed: false, inFlight: limit, token: '' }
    const grant = super.acquire(key, limit, leaseMs, now)
    if (grant.allowed) {
      this.held++
      this.taken++
    }
    return grant
  }

  override release (key: string, token: string): void {
    this.held--
    super.release(key, token)
  }
}

t.test('a waiting request holds no concurrency slot: it gives it back to wait and takes one again after', async (t) => {
  // read 1: request 1 passes; read 2: request 2 is denied (200 ms to wait), then the clock moves;
  // read 3: request 3 takes a slot, finds request 2 waiting and queues behind it; read 4: request
  // 2 passes; read 5: request 3 is denied in that window, then the clock moves; read 6: it passes
  const clock = steppedClock((read) => read === 2 || read === 5 ? 200 : 0)
  const store = new SlotCounter()
  const fastify = await app({ store, clock: clock.read, delay: { maxMs: 1000 } })
  t.teardown(() => fastify.close())
  fastify.get('/r', { config: { rateLimit: { ...RATE, concurrency: { ip: 2 } } } }, handler)
  t.equal((await fastify.inject('/r')).statusCode, 200)
  t.equal(store.held, 0)
  const second = fastify.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  const third = fastify.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(clock.reads, 3, 'both wait')
  t.equal(store.held, 0, 'waiting requests hold no slot')
  const answers = await Promise.all([second, third])
  t.same(answers.map((a) => a.statusCode), [200, 200])
  t.same(answers.map((a) => a.json().delayedMs), [200, 200])
  t.equal(store.held, 0, 'every slot given back once')
  // a slot each time a request is decided: request 1 once, 2 twice (arrival, after its wait),
  // 3 three times (arrival, when request 2 left the line, after its own wait)
  t.equal(store.taken, 6, 'requests 2 and 3 took a slot again each time they were decided')
})

t.test('a request whose slots are full after waiting gets the concurrency 429 and lets the next one on', async (t) => {
  // read 1: request 1 passes; read 2: request 2 is denied and waits; read 3: request 3 queues
  // behind it; then another app server takes every slot (the store refuses), and request 2,
  // decided again, gets the concurrency 429; request 3, next in line, too
  const clock = steppedClock((read) => read === 2 ? 200 : 0)
  const store = new SlotCounter()
  const fastify = await app({ store, clock: clock.read, delay: { maxMs: 1000 } })
  t.teardown(() => fastify.close())
  fastify.get('/r', { config: { rateLimit: { ...RATE, concurrency: { ip: 1 } } } }, handler)
  t.equal((await fastify.inject('/r')).statusCode, 200)
  const second = fastify.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  const third = fastify.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(clock.reads, 3, 'both wait')
  store.full = true
  const answers = await Promise.all([second, third])
  t.same(answers.map((a) => [a.statusCode, a.headers['retry-after']]), [[429, '1'], [429, '1']], 'the concurrency 429')
  t.equal(store.held, 0)
  t.match(await fastify.rateLimit.stats(), { concurrencyDenied: 2, delayed: 0 })
})

t.test('the OpenAPI document says which routes wait', async (t) => {
  const swagger = (await import('@fastify/swagger')).default
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(swagger, { openapi: { info: { title: 't', version: '1' } } })
  await fastify.register(limiter, { delay: { maxMs: 500 } })
  fastify.get('/slow', { config: { rateLimit: { ip: '2/s', delay: { maxMs: 2000, queue: 10 } } } }, handler)
  fastify.get('/plugin', { config: { rateLimit: '2/s' } }, handler)
  fastify.get('/none', { config: { rateLimit: { ip: '2/s', delay: false } } }, handler)
  await fastify.ready()
  const paths = (fastify.swagger() as { paths: Record<string, { get: Record<string, any> }> }).paths
  t.match(paths['/slow'].get.description, /a request that can pass within 2000 ms waits instead of a 429/)
  t.same(paths['/slow'].get['x-ratelimit'].delay, { maxMs: 2000, queue: 10 })
  t.same(paths['/plugin'].get['x-ratelimit'].delay, { maxMs: 500, queue: 1000 })
  t.notOk('delay' in paths['/none'].get['x-ratelimit'])
  t.notMatch(paths['/none'].get.description, /waits/)
  t.ok(paths['/slow'].get.responses['429'], 'the 429 stays documented: a longer wait or a full queue is still one')
})
