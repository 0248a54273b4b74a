import t from 'tap'
import type * as Tap from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import limiter, { MemoryStore, SqliteStore } from '../../index.js'
import type { FastifyLimiterOptions, LimitContext, RateLimitDecision, Store } from '../../index.js'
import { Clock, gate, thrown, until } from '../support/helpers.js'
import { tempDir } from '../support/sqlite.js'

/** A memory store that counts its acquires and releases. */
class CountingStore extends MemoryStore {
  acquired = 0
  released: string[] = []
  override acquire (key: string, limit: number, leaseMs?: number, now?: number) {
    const grant = super.acquire(key, limit, leaseMs, now)
    if (grant.allowed) this.acquired++
    return grant
  }

  override release (key: string, token: string): void {
    this.released.push(token)
    super.release(key, token)
  }
}

async function app (options: FastifyLimiterOptions = {}, server = {}): Promise<FastifyInstance> {
  const fastify = Fastify(server)
  await fastify.register(limiter, options)
  return fastify
}

/** Keeps each request's decision as it was when the response was sent. */
function decisions (fastify: FastifyInstance): Array<RateLimitDecision | undefined> {
  const seen: Array<RateLimitDecision | undefined> = []
  fastify.addHook('onSend', async (request) => { seen.push(request.rateLimit) })
  return seen
}

t.test('at most concurrency requests of one identity in flight: then a 429 with Retry-After 1 and inFlight', async (t) => {
  const store = new CountingStore()
  const fastify = await app({ store })
  t.teardown(() => fastify.close())
  const seen = decisions(fastify)
  const held = gate()
  fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 2 } } } }, held.handler)
  const first = [fastify.inject('/r'), fastify.inject('/r')]
  await until(() => held.entered === 2)
  const over = await fastify.inject('/r')
  t.equal(over.statusCode, 429)
  t.equal(over.headers['retry-after'], '1')
  t.same(over.json(), { statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded, retry in 1 second' })
  t.match(seen[0], { allowed: false, limit: 2, remaining: 0, retryAfterMs: 1000, bucket: 'ip', rate: '2 in flight', inFlight: 2 })
  held.open()
  t.same((await Promise.all(first)).map((r) => r.statusCode), [200, 200])
  const after = await fastify.inject('/r')
  t.equal(after.statusCode, 200, 'the slots came back on response')
  t.equal(after.headers['x-ratelimit-remaining'], '97', 'the refused request charged no rate')
  t.equal(store.acquired, 3)
  t.equal(store.released.length, 3, 'each slot released once')
  t.equal(new Set(store.released).size, 3)
  const stats = await fastify.rateLimit.stats()
  t.equal(stats.concurrencyDenied, 1)
  t.equal(stats.routes['GET /r'].concurrencyDenied, 1)
})

t.test('the identity follows the rates\' rules; a group shares its slots; rates still apply', async (t) => {
  const fastify = await app({ user: (r) => r.headers['x-user'] as string | undefined })
  t.teardown(() => fastify.close())
  const held = gate()
  fastify.get('/u', { config: { rateLimit: { ip: '100/min', user: '100/min', concurrency: { user: 1 } } } }, held.handler)
  fastify.get('/a', { config: { rateLimit: { ip: '100/min', group: 'g', concurrency: { ip: 1 } } } }, held.handler)
  fastify.get('/b', { config: { rateLimit: { ip: '100/min', group: 'g', concurrency: { ip: 1 } } } }, held.handler)
  fastify.get('/rate', { config: { rateLimit: { ip: '1/min', concurrency: { ip: 5 } } } }, async () => 'ok')
  const pending = [fastify.inject({ url: '/u', headers: { 'x-user': 'ann' } }), fastify.inject('/u'), fastify.inject('/u'), fastify.inject('/a')]
  await until(() => held.entered === 4)
  t.equal((await fastify.inject({ url: '/u', headers: { 'x-user': 'ann' } })).statusCode, 429, 'ann has one in flight')
  t.equal((await fastify.inject('/b')).statusCode, 429, '/b shares the group\'s slot with /a')
  pending.push(fastify.inject({ url: '/u', headers: { 'x-user': 'bob' } }))
  await until(() => held.entered === 5)
  held.open()
  t.same((await Promise.all(pending)).map((r) => r.statusCode), [200, 200, 200, 200, 200], 'anonymous requests had no concurrency limit, bob his own slot')
  t.same([(await fastify.inject('/rate')).statusCode, (await fastify.inject('/rate')).statusCode, (await fastify.inject('/rate')).statusCode], [200, 429, 429], 'the rate denies as before, and its 429 frees the slot')
})

t.test('per key, per numeric user id; resolvers the rates do not ask are checked here', async (t) => {
  const fastify = await app({
    user: (r) => {
      const user = r.headers['x-user']
      if (user === 'throw') throw new Error('no auth')
      if (user === 'throw-string') throw 'no auth' // eslint-disable-line no-throw-literal
      if (user === 'object') return { id: 1 } as never
      return user === undefined ? undefined : Number(user)
    }
  })
  t.teardown(() => fastify.close())
  const held = gate()
  fastify.get('/k', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string | undefined, rate: '100/min', concurrency: { key: 1 } } } }, held.handler)
  fastify.get('/u', { config: { rateLimit: { ip: '100/min', concurrency: { user: 1 } } } }, held.handler)
  const pending = [fastify.inject({ url: '/k', headers: { 'x-key': 'a' } }), fastify.inject({ url: '/u', headers: { 'x-user': '7' } })]
  await until(() => held.entered === 2)
  t.equal((await fastify.inject({ url: '/k', headers: { 'x-key': 'a' } })).statusCode, 429)
  t.equal((await fastify.inject({ url: '/u', headers: { 'x-user': '7' } })).statusCode, 429)
  const thrownBy = await fastify.inject({ url: '/u', headers: { 'x-user': 'throw' } })
  t.equal(thrownBy.statusCode, 500)
  t.equal(thrownBy.json().code, 'FST_LIMITER_RESOLVER_FAILED')
  t.equal((await fastify.inject({ url: '/u', headers: { 'x-user': 'object' } })).json().code, 'FST_LIMITER_INVALID_IDENTITY')
  t.match((await fastify.inject({ url: '/u', headers: { 'x-user': 'throw-string' } })).json(), { code: 'FST_LIMITER_RESOLVER_FAILED', message: /the user function threw \(its error is the cause\)$/ })
  held.open()
  t.same((await Promise.all(pending)).map((r) => r.statusCode), [200, 200])
})

t.test('an errorResponseBuilder that throws fails the refused request', async (t) => {
  const fastify = await app({ errorResponseBuilder: () => { throw new Error('builder broke') }, errorFormat: 'problem' })
  t.teardown(() => fastify.close())
  const held = gate()
  fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } } }, held.handler)
  const first = fastify.inject('/r')
  await until(() => held.entered === 1)
  const refused = await fastify.inject('/r')
  t.equal(refused.statusCode, 500)
  t.equal(refused.json().message, 'builder broke')
  held.open()
  await first
})

t.test('the concurrency 429 follows the limit\'s errorFormat', async (t) => {
  const fastify = await app({ headers: 'ietf' })
  t.teardown(() => fastify.close())
  const held = gate()
  fastify.get('/p', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 }, errorFormat: 'problem' } } }, held.handler)
  const first = fastify.inject('/p')
  await until(() => held.entered === 1)
  const refused = await fastify.inject('/p')
  t.equal(refused.statusCode, 429)
  t.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(refused.headers['retry-after'], '1')
  t.match(refused.json(), { status: 429, detail: 'Rate limit exceeded, retry in 1 second', 'violated-policies': ['ip-1 in flight'] })
  held.open()
  await first
})

t.test('a slot is released exactly once when the handler fails (onError)', async (t) => {
  const store = new CountingStore()
  const fastify = await app({ store })
  t.teardown(() => fastify.close())
  fastify.get('/fail', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } } }, async () => { throw new Error('boom') })
  t.equal((await fastify.inject('/fail')).statusCode, 500)
  t.equal((await fastify.inject('/fail')).statusCode, 500, 'not a 429: the failed request gave its slot back')
  t.equal(store.acquired, 2)
  t.equal(store.released.length, 2)
})

/** Sends a request to a listening app; the returned request can be destroyed (a client abort). */
function send (fastify: FastifyInstance, path: string) {
  const { port } = fastify.server.address() as AddressInfo
  const req = httpRequest({ port, host: '127.0.0.1', path, agent: false })
  req.on('error', () => {})
  req.end()
  return req
}

async function status (fastify: FastifyInstance, path: string): Promise<number> {
  const [res] = await once(send(fastify, path), 'response')
  res.resume()
  return res.statusCode
}

t.test('a slot is released exactly once when the client aborts (onRequestAbort)', async (t) => {
  const store = new CountingStore()
  const fastify = await app({ store })
  t.teardown(() => fastify.close())
  const held = gate()
  fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } } }, held.handler)
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  const aborted = send(fastify, '/r')
  await until(() => held.entered === 1)
  aborted.destroy()
  await until(() => store.released.length === 1)
  const next = send(fastify, '/r')
  await until(() => held.entered === 2)
  held.open()
  const [res] = await once(next, 'response')
  res.resume()
  t.equal(res.statusCode, 200, 'the aborted request\'s slot was free again while its handler still ran')
  await until(() => store.released.length === 2)
  t.equal(store.acquired, 2)
  t.same(store.released.length, 2, 'the aborted request\'s late response released nothing more')
})

t.test('a slot is released exactly once on Fastify\'s connection timeout (onTimeout)', async (t) => {
  const store = new CountingStore()
  const fastify = await app({ store }, { connectionTimeout: 300 })
  t.teardown(() => fastify.close())
  const held = gate()
  fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } } }, held.handler)
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  const timedOut = send(fastify, '/r')
  await until(() => held.entered === 1)
  await new Promise((resolve) => timedOut.on('close', resolve))
  await until(() => store.released.length === 1)
  held.open()
  t.equal(await status(fastify, '/r'), 200)
  await until(() => store.released.length === 2)
  t.equal(store.acquired, 2)
})

t.test('dry run: over the limit is told to onExceeded and let through', async (t) => {
  const told: LimitContext[] = []
  const fastify = await app({ onExceeded: (request, context) => { told.push(context) } })
  t.teardown(() => fastify.close())
  const held = gate()
  fastify.get('/r', { config: { rateLimit: { ip: '100/min', dryRun: true, concurrency: { ip: 1 } } } }, held.handler)
  const pending = [fastify.inject('/r'), fastify.inject('/r')]
  await until(() => held.entered === 2)
  held.open()
  t.same((await Promise.all(pending)).map((r) => r.statusCode), [200, 200])
  t.match(told, [{ dryRun: true, inFlight: 1, statusCode: 429, retryAfter: 1 }])
  t.equal((await fastify.rateLimit.stats()).concurrencyDenied, 0)
})

/** A store whose acquire fails; release must never be called for a slot it did not give. */
class FailingSlots extends MemoryStore {
  override acquire (): never {
    throw new Error('slots down')
  }

  override release (): void {
    throw new Error('released a slot this store never gave')
  }
}

t.test('when acquire fails, the limit\'s onStoreError decides', async (t) => {
  for (const [mode, expected] of [['fallback', [200, 429]], ['allow', [200, 200]], ['deny', [503, 503]]] as const) {
    const fastify = await app({ store: new FailingSlots(), onStoreError: mode })
    const held = gate()
    fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } } }, held.handler)
    const first = fastify.inject('/r')
    await until(async () => held.entered === 1 || mode === 'deny')
    const second = fastify.inject('/r')
    // the requests that get in wait at the gate until both were decided
    await until(() => held.entered === expected.filter((code) => code === 200).length)
    if (mode === 'fallback') await second
    held.open()
    t.same([(await first).statusCode, (await second).statusCode], expected, mode)
    t.match(await fastify.rateLimit.stats(), { storeErrors: 2, degraded: 2 }, mode)
    await fastify.close()
  }
})

/** A store whose slots are answered through promises, as a networked store's are. */
function asyncSlots (fail: boolean): Store {
  const memory = new MemoryStore()
  return {
    consume: (buckets, cost, now) => memory.consume(buckets, cost, now),
    reset: (key) => memory.reset(key),
    clear: (prefix) => memory.clear(prefix),
    stats: () => memory.stats(),
    close: () => memory.close(),
    acquire: async (key, limit, leaseMs, now) => {
      if (fail) throw new Error('slots down')
      return memory.acquire(key, limit, leaseMs, now)
    },
    release: async (key, token) => memory.release(key, token)
  }
}

t.test('a store that answers slots with promises; one that rejects follows onStoreError', async (t) => {
  for (const [fail, expected] of [[false, [200, 429]], [true, [503, 503]]] as const) {
    const fastify = await app({ store: asyncSlots(fail), onStoreError: 'deny' })
    const held = gate()
    // the route's own onResponse (a function) and onError (an array) stay, before the release
    const own: string[] = []
    fastify.get('/r', {
      config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } },
      onResponse: async () => { own.push('onResponse') },
      onError: [async () => { own.push('onError') }]
    }, held.handler)
    const first = fastify.inject('/r')
    if (!fail) await until(() => held.entered === 1)
    const second = await fastify.inject('/r')
    held.open()
    t.same([(await first).statusCode, second.statusCode], expected)
    if (!fail) {
      t.equal((await fastify.inject('/r')).statusCode, 200, 'released through the promise')
      t.ok(own.includes('onResponse'))
    }
    await fastify.close()
  }
})

t.test('a release that fails is logged and counted; the lease ends it', async (t) => {
  const lines: Array<Record<string, any>> = []
  const logger = { level: 'error', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } }
  class BadRelease extends MemoryStore {
    override release (): void { throw new Error('sync failure') }
  }
  class BadAsyncRelease extends MemoryStore {
    override async release (): Promise<void> { throw new Error('async failure') }
  }
  for (const store of [new BadRelease(), new BadAsyncRelease()]) {
    const fastify = await app({ store }, { logger })
    fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } } }, async () => 'ok')
    t.equal((await fastify.inject('/r')).statusCode, 200)
    await until(async () => (await fastify.rateLimit.stats()).storeErrors === 1)
    await fastify.close()
  }
  t.same(lines.map((l) => l.err.message), ['sync failure', 'async failure'])
})

t.test('concurrency limits are counted in the metrics and documented in OpenAPI', async (t) => {
  const swagger = (await import('@fastify/swagger')).default
  const registry = new Registry()
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(swagger, { openapi: { info: { title: 't', version: '1' } } })
  await fastify.register(limiter, { metrics: { registry } })
  const held = gate()
  fastify.get('/r', { config: { rateLimit: { ip: '100/min', user: '1000/min', concurrency: { ip: 1, user: 3 } } } }, held.handler)
  const first = fastify.inject('/r')
  await until(() => held.entered === 1)
  await fastify.inject('/r')
  held.open()
  await first
  t.match(await registry.metrics(), /fastify_limiter_concurrency_denied_total\{route="GET \/r"\} 1/)
  const op = (fastify.swagger() as { paths: Record<string, { get: Record<string, any> }> }).paths['/r'].get
  t.same(op['x-ratelimit'].concurrency, { ip: 1, user: 3 })
  t.match(op.description, /at most 1 per IP and 3 per user in flight/)
})

t.test('concurrency on global, checked at registration, not in hook()', async (t) => {
  const fastify = await app({ global: { ip: '100/min', concurrency: { ip: 1 } } })
  t.teardown(() => fastify.close())
  const held = gate()
  fastify.get('/g', held.handler)
  const first = fastify.inject('/g')
  await until(() => held.entered === 1)
  t.equal((await fastify.inject('/g')).statusCode, 429)
  held.open()
  t.equal((await first).statusCode, 200)
  t.equal((await fastify.inject('/g')).statusCode, 200)

  const fresh = await app()
  t.teardown(() => fresh.close())
  const errors = [
    thrown(() => fresh.get('/k', { config: { rateLimit: { ip: '1/s', concurrency: { key: 2 } } } }, held.handler)),
    thrown(() => fresh.get('/z', { config: { rateLimit: { ip: '1/s', concurrency: { ip: 0 } } } }, held.handler)),
    thrown(() => fresh.get('/e', { config: { rateLimit: { ip: '1/s', concurrency: {} } } }, held.handler)),
    thrown(() => fresh.rateLimit.hook({ ip: '1/s', concurrency: { ip: 1 } }))
  ]
  t.same(errors.map((e) => e?.code), Array(4).fill('FST_LIMITER_INVALID_ROUTE_CONFIG'))
  t.match(errors[0]?.message, /config\.rateLimit\.concurrency\.key: expected the limit's key function beside it \(key and rate\), received concurrency\.key without a key$/)
  t.match(errors[3]?.message, /not hook\(\)/)
  await t.rejects(app({ leaseMs: 10 }), { code: 'FST_LIMITER_INVALID_OPTION' })

  const plain: Store = { consume: () => { throw new Error('unused') }, reset () {}, clear () {}, stats: () => ({ keys: 0 }), close () {} }
  const withPlain = await app({ store: plain })
  t.teardown(() => withPlain.close())
  const err = thrown(() => withPlain.get('/p', { config: { rateLimit: { ip: '1/s', concurrency: { ip: 1 } } } }, held.handler))
  t.equal(err?.code, 'FST_LIMITER_STORE_LACKS_METHOD')
  t.match(err?.message, /config\.rateLimit\.concurrency needs the store method acquire\(\) and release\(\)/)
})

t.test('on SQLite a slot is a lease row, gone when the request ends', async (t) => {
  const path = join(tempDir(t), 'slots.db')
  const store = new SqliteStore({ path })
  t.teardown(() => store.close())
  const fastify = await app({ store, leaseMs: 5000 })
  t.teardown(() => fastify.close())
  const held = gate()
  fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } } }, held.handler)
  const first = fastify.inject('/r')
  await until(() => held.entered === 1)
  t.equal((await fastify.inject('/r')).statusCode, 429)
  held.open()
  t.equal((await first).statusCode, 200)
  t.equal((await fastify.inject('/r')).statusCode, 200)
  // another connection to the file: the key's one slot is free, so no lease was left behind
  const other = new SqliteStore({ path })
  t.teardown(() => other.close())
  t.match(other.acquire('fl:{GET%20/r:ip:127.0.0.1}:inflight', 1, 5000), { allowed: true, inFlight: 1 })
})

/** Memory and SQLite stores, each as a fresh one for a test. */
const localStores: Array<[string, (t: Tap.Test) => Store]> = [
  ['memory', () => new MemoryStore()],
  ['SQLite', (t) => {
    const store = new SqliteStore({ path: join(tempDir(t), 'slots.db') })
    t.teardown(() => store.close())
    return store
  }]
]

for (const [name, make] of localStores) {
  t.test(`${name}: clear() and reset() drop the slots of the identities they forget`, async (t) => {
    const store = make(t)
    const fastify = await app({ store })
    t.teardown(() => fastify.close())
    const held = gate()
    const seen: FastifyRequest[] = []
    fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } } }, async (request) => {
      seen.push(request)
      return await held.handler(request)
    })
    const inFlight: Array<Promise<{ statusCode: number }>> = []
    /** Holds the route's one slot (of 127.0.0.1) with a request that waits at the gate. */
    async function hold (): Promise<void> {
      let refused = 0
      inFlight.push(fastify.inject('/r').then((res) => {
        if (res.statusCode === 429) refused++
        return res
      }))
      await until(() => held.entered === inFlight.length || refused > 0)
      t.equal(refused, 0, 'it got the slot')
      t.equal((await fastify.inject('/r')).statusCode, 429, 'the slot is held')
    }
    await hold()
    await fastify.rateLimit.reset({ user: 'alice' })
    t.equal((await fastify.inject('/r')).statusCode, 429, 'reset({ user }) leaves the slots kept per IP')
    await fastify.rateLimit.clear()
    await hold()
    t.pass('clear() dropped the held slot')
    await fastify.rateLimit.reset({ ip: '127.0.0.1' })
    await hold()
    t.pass('reset({ ip }) dropped it')
    await fastify.rateLimit.reset(seen[seen.length - 1])
    await hold()
    t.pass('reset(request) dropped it')
    held.open()
    t.same((await Promise.all(inFlight)).map((r) => r.statusCode), [200, 200, 200, 200])
    t.equal((await fastify.inject('/r')).statusCode, 200)
  })

  t.test(`${name}: clear(prefix) drops the slots under the prefix only`, async (t) => {
    const store = make(t)
    const acquire = store.acquire as NonNullable<Store['acquire']>
    t.match(await acquire.call(store, 'a:{x}:inflight', 2, 5000), { allowed: true, inFlight: 1 })
    t.match(await acquire.call(store, 'b:{x}:inflight', 2, 5000), { allowed: true, inFlight: 1 })
    await store.clear('a:{')
    t.match(await acquire.call(store, 'a:{x}:inflight', 2, 5000), { allowed: true, inFlight: 1 }, 'dropped')
    t.match(await acquire.call(store, 'b:{x}:inflight', 2, 5000), { allowed: true, inFlight: 2 }, 'kept')
    await store.reset('b:{x}:inflight')
    t.match(await acquire.call(store, 'b:{x}:inflight', 2, 5000), { allowed: true, inFlight: 1 }, 'reset(key) drops them')
    await store.clear()
    t.match(await acquire.call(store, 'a:{x}:inflight', 1, 5000), { allowed: true, inFlight: 1 }, 'clear() drops all')
  })
}

t.test('SQLite: reset and clear before any lease table exists, and from another connection', async (t) => {
  const path = join(tempDir(t), 'slots.db')
  const first = new SqliteStore({ path })
  t.teardown(() => first.close())
  first.reset('fl:{x}:inflight')
  first.clear('fl:{')
  first.clear()
  const other = new SqliteStore({ path })
  t.teardown(() => other.close())
  t.match(other.acquire('fl:{x}:inflight', 1, 5000), { allowed: true })
  // the table another connection made: this one finds it now
  first.clear('fl:{')
  t.match(other.acquire('fl:{x}:inflight', 1, 5000), { allowed: true, inFlight: 1 })
})

t.test('a slot is released exactly once for a request the rates refuse, a 503, and a 429 whose builder throws', async (t) => {
  class FailingRates extends CountingStore {
    override consume (): never {
      throw new Error('rates down')
    }
  }
  const cases = [
    ['refused by its rate after taking a slot', new CountingStore(), {}, 429, 2],
    // the rates' store threw at once: one failure (not one that held the loop) leaves the breaker
    // closed, so each request takes its slot, then gets the 503 and gives the slot back
    ['a 503: the rates\' store failed (onStoreError deny)', new FailingRates(), { onStoreError: 'deny' }, 503, 2],
    ['a 429 whose errorResponseBuilder throws', new CountingStore(), { errorResponseBuilder: () => { throw new Error('builder broke') } }, 500, 2]
  ] as const
  for (const [name, store, options, status, taken] of cases) {
    const fastify = await app({ store, ...options })
    fastify.get('/r', { config: { rateLimit: { ip: '1/min', concurrency: { ip: 1 } } } }, async () => 'ok')
    const codes = [(await fastify.inject('/r')).statusCode, (await fastify.inject('/r')).statusCode]
    t.equal(codes[1], status, name)
    // every slot taken was released, each once (the tokens differ)
    t.equal(store.acquired, taken, name)
    t.same(store.released.length, taken, name)
    t.equal(new Set(store.released).size, taken, name)
    t.equal((await fastify.inject('/r')).statusCode, status, `${name}: the slot is free again`)
    await fastify.close()
  }
})

t.test('failed releases are each counted, and logged at most once a second', async (t) => {
  const lines: Array<Record<string, any>> = []
  const logger = { level: 'error', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } }
  class BadRelease extends MemoryStore {
    override release (): void { throw new Error('release failure') }
  }
  const clock = new Clock()
  const fastify = await app({ store: new BadRelease(), clock: clock.read }, { logger })
  t.teardown(() => fastify.close())
  fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 10 } } } }, async () => 'ok')
  t.same([(await fastify.inject('/r')).statusCode, (await fastify.inject('/r')).statusCode, (await fastify.inject('/r')).statusCode], [200, 200, 200])
  t.equal((await fastify.rateLimit.stats()).storeErrors, 3)
  t.same(lines.map((l) => [l.err.message, l.suppressed]), [['release failure', 0]])
  clock.advance(1000)
  t.equal((await fastify.inject('/r')).statusCode, 200)
  t.same(lines.map((l) => [l.err.message, l.suppressed]), [['release failure', 0], ['release failure', 2]], 'a second later: logged, with the count not logged')
})

t.test('a client that aborts while its slot is being taken does not keep the slot', async (t) => {
  // acquire answers when the test says so, after the client went away
  const memory = new CountingStore()
  const store = {
    acquired: () => memory.acquired,
    released: memory.released,
    answer: () => {},
    consume: (buckets, cost, now) => memory.consume(buckets, cost, now),
    reset: (key) => memory.reset(key),
    clear: (prefix) => memory.clear(prefix),
    stats: () => memory.stats(),
    close: () => memory.close(),
    acquire: async (key, limit, leaseMs, now) => {
      await new Promise<void>((resolve) => { store.answer = resolve })
      return memory.acquire(key, limit, leaseMs, now)
    },
    release: (key, token) => memory.release(key, token)
  } satisfies Store & Record<string, unknown>
  // long enough for the test to answer the acquire (were it to time out, the late grant would be
  // given back too); the guard's deadline timer keeps the process up for that long at the end
  const fastify = await app({ store, storeTimeoutMs: 2_000 })
  t.teardown(() => fastify.close())
  let entered = 0
  let aborts = 0
  fastify.get('/r', { config: { rateLimit: { ip: '100/min', concurrency: { ip: 1 } } }, onRequestAbort: (_request, done) => { aborts++; done() } }, async () => {
    entered++
    return 'ok'
  })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  const aborted = send(fastify, '/r')
  const answer = store.answer
  await until(() => store.answer !== answer)
  aborted.destroy()
  await new Promise((resolve) => aborted.on('close', resolve))
  // the server sees the abort before the slot is granted (its onRequestAbort finds none to release)
  await until(() => aborts === 1)
  store.answer()
  await until(() => store.acquired() === 1)
  await until(() => store.released.length === 1)
  t.equal(entered, 0, 'dropped: its handler never ran')
  t.equal((await fastify.rateLimit.stats()).allowed, 0, 'nor was it charged')
})
