// The decision engine where only a hostile store, clock, thenable or client takes it: each test
// names the promise it checks (docs/failure-modes.md, docs/concurrency.md, docs/api.md).
import t from 'tap'
import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import { Readable } from 'node:stream'
import Fastify from 'fastify'
import type { FastifyRequest } from 'fastify'
import swagger from '@fastify/swagger'
import limiter, { MemoryStore } from '../../index.js'
import type { StoreBucket, StoreDecision } from '../../index.js'
import { build, captureLog, requiredOnlyStore } from '../support/helpers.js'

t.test('reset({ route, ip }) frees the slots of a kind counted only by concurrency', async (t) => {
  const { app } = await build()
  t.teardown(() => app.close())
  const releases: Array<() => void> = []
  app.get('/r', { config: { rateLimit: { concurrency: { ip: 1 } } } }, async () => {
    await new Promise<void>((resolve) => releases.push(resolve))
    return 'ok'
  })
  const held = app.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal((await app.inject('/r')).statusCode, 429, 'the one slot is held')
  await app.rateLimit.reset({ route: 'GET /r', ip: '127.0.0.1' })
  const again = app.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(releases.length, 2, 'after the reset the slot is free again')
  for (const release of releases) release()
  t.equal((await held).statusCode, 200)
  t.equal((await again).statusCode, 200, 'after the reset the slot is free again')
})

/** A memory store whose peeks fail from the `failFrom`-th on. */
class PeekFailing extends MemoryStore {
  peeks = 0
  failFrom = Infinity
  override peek (buckets: readonly StoreBucket[], cost?: number, now?: number): StoreDecision {
    if (++this.peeks >= this.failFrom) throw new Error('peek failed')
    return super.peek(buckets, cost, now)
  }
}

t.test("peek(request) on a limit with a ban: when the look at the ban's gate fails, the rate's denial stands", async (t) => {
  const store = new PeekFailing()
  const { app } = await build({ store, ban: { after: 5, for: '1h' } })
  t.teardown(() => app.close())
  let peeked: unknown
  app.get('/r', { config: { rateLimit: '1/min' } }, async (request) => {
    store.failFrom = store.peeks + 2
    peeked = await app.rateLimit.peek(request)
    return 'ok'
  })
  t.equal((await app.inject('/r')).statusCode, 200)
  t.match(peeked, { allowed: false, bucket: 'ip', rate: '1/min' }, "the rate's denial, not a ban")
  t.equal(store.peeks, 2, 'the gate was looked at, and failed')
  t.equal((await app.rateLimit.stats()).storeErrors, 1)
})

t.test('a concurrency limit without rates under a clock that throws: the slot follows onStoreError', async (t) => {
  for (const [onStoreError, status] of [['fallback', 200], ['allow', 200], ['deny', 503]] as const) {
    const app = Fastify()
    await app.register(limiter, { clock: () => { throw new Error('no time') }, onStoreError })
    app.get('/r', { config: { rateLimit: { concurrency: { ip: 1 } } } }, async () => 'ok')
    t.equal((await app.inject('/r')).statusCode, status, onStoreError)
    t.equal((await app.rateLimit.stats()).storeErrors, 1, `${onStoreError}: a store error`)
    await app.close()
  }
})

t.test('a thenable key function that rejects twice, or resolves then rejects: its first answer wins', async (t) => {
  const { app } = await build()
  t.teardown(() => app.close())
  let calls = 0
  app.get('/r', {
    config: {
      rateLimit: {
        key: () => ({
          then (resolve: (v: unknown) => void, reject: (e: unknown) => void) {
            calls++
            setImmediate(() => {
              if (calls === 1) {
                reject(new Error('first'))
                reject(new Error('second'))
              } else {
                resolve('alice')
                reject(new Error('late'))
              }
            })
          }
        }) as unknown as PromiseLike<string>,
        rate: '5/min'
      }
    }
  }, async (request) => request.rateLimit?.bucket ?? 'none')
  const failed = await app.inject('/r')
  t.equal(failed.statusCode, 500)
  t.equal(failed.json().code, 'FST_LIMITER_RESOLVER_FAILED')
  const ok = await app.inject('/r')
  t.equal(ok.statusCode, 200, 'a late rejection after the answer changes nothing')
  t.equal(ok.body, 'key')
})

t.test('a thenable whose then() throws fails the request as a throwing resolver does', async (t) => {
  const { lines, logger } = captureLog('error')
  const { app } = await build({}, { logger })
  t.teardown(() => app.close())
  app.get('/r', {
    config: { rateLimit: { key: () => ({ then () { throw new Error('then() broke') } }) as unknown as PromiseLike<string>, rate: '5/min' } }
  }, async () => 'ok')
  const res = await app.inject('/r')
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_LIMITER_RESOLVER_FAILED')
  t.notMatch(res.body, /then\(\) broke/, 'the cause stays in the log')
  t.ok(lines.some((l) => /then\(\) broke/.test(JSON.stringify(l))))
})

t.test('concurrency per key and per user: the key holds the slot when there is one, else the user', async (t) => {
  let users = 0
  const { app } = await build({ user: () => { users++; return 'alice' } })
  t.teardown(() => app.close())
  const releases: Array<() => void> = []
  app.get('/r', {
    config: {
      rateLimit: {
        key: (request) => request.headers['x-key'] as string | undefined,
        concurrency: { key: 1, user: 1 }
      }
    }
  }, async () => {
    await new Promise<void>((resolve) => releases.push(resolve))
    return 'ok'
  })
  const keyed = app.inject({ url: '/r', headers: { 'x-key': 'k1' } })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(users, 0, 'a request with a key: the user resolver is not asked')
  const signedIn = app.inject('/r')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(users, 1, 'without a key: the user holds the slot')
  t.equal((await app.inject('/r')).statusCode, 429, "the user's one slot is held")
  t.equal(users, 2)
  t.equal((await app.inject({ url: '/r', headers: { 'x-key': 'k1' } })).statusCode, 429, "the key's one slot is held")
  t.equal(users, 2, 'and the user was not asked for it')
  for (const release of releases) release()
  t.equal((await keyed).statusCode, 200)
  t.equal((await signedIn).statusCode, 200)
  for (const release of releases) release()
})

t.test("consume() by selector with onStoreError 'allow' and no clock option: allowed, reset now", async (t) => {
  const app = Fastify()
  const store = new MemoryStore()
  store.consume = () => { throw new Error('down') }
  await app.register(limiter, { store, onStoreError: 'allow' })
  app.post('/chat', { config: { rateLimit: '5/min' } }, async () => 'ok')
  await app.ready()
  const before = Date.now()
  const decision = await app.rateLimit.consume({ route: 'POST /chat', ip: '1.2.3.4' })
  t.match(decision, { allowed: true, limit: 5, remaining: 5, retryAfterMs: 0, bucket: 'ip' })
  t.ok((decision?.resetMs ?? 0) >= before && (decision?.resetMs ?? 0) <= Date.now(), 'its reset is the time of the decision')
  await app.close()
})

t.test('a settle function that answers after settle() was called settles nothing more', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  let finish: (cost: number) => void = () => {}
  let asked: () => void = () => {}
  const settleAsked = new Promise<void>((resolve) => { asked = resolve })
  let seen: FastifyRequest | undefined
  app.post('/chat', {
    config: {
      rateLimit: {
        ip: '100/min',
        settle: async () => await new Promise<number>((resolve) => {
          finish = resolve
          asked()
        })
      }
    }
  }, async (request) => {
    seen = request
    return 'ok'
  })
  t.equal((await app.inject({ method: 'POST', url: '/chat' })).statusCode, 200)
  await settleAsked
  t.equal(await app.rateLimit.settle(seen as FastifyRequest, 3), true, 'settled to 3 while the settle function was still thinking')
  finish(50)
  await new Promise((resolve) => setImmediate(resolve))
  t.match(await app.rateLimit.peek({ route: 'POST /chat', ip: '127.0.0.1' }), { remaining: 96 }, 'charged 3, not 50')
})

t.test('a settlement under a clock that throws changes nothing and is a store error', async (t) => {
  let broken = false
  const now = 1_700_000_000_000
  const again = Fastify()
  await again.register(limiter, { algorithm: 'fixed-window', clock: () => { if (broken) throw new Error('no time'); return now } })
  t.teardown(() => again.close())
  again.post('/chat', { config: { rateLimit: { ip: '100/min', settle: () => 10 } } }, async () => {
    broken = true
    return 'ok'
  })
  t.equal((await again.inject({ method: 'POST', url: '/chat' })).statusCode, 200)
  await new Promise((resolve) => setImmediate(resolve))
  broken = false
  t.equal((await again.rateLimit.stats()).storeErrors, 1)
  t.match(await again.rateLimit.peek({ route: 'POST /chat', ip: '127.0.0.1' }), { remaining: 98 }, 'charged the estimate (1) only')
})

t.test("count: 'failed' and an aborted streamed reply: the settle function says what it cost", async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  let settled: (n: number) => void = () => {}
  const settledWith = new Promise<number>((resolve) => { settled = resolve })
  const streamed = new WeakMap<FastifyRequest, number>()
  app.get('/stream', {
    config: {
      rateLimit: {
        ip: '100/min',
        count: 'failed',
        settle: (request) => {
          const n = streamed.get(request) ?? 0
          settled(n)
          return n
        }
      }
    }
  }, async (request, reply) => {
    let sent = 0
    // a chunk, then nothing: the client goes away in the middle
    const stream = new Readable({
      read () {
        if (sent === 2) return
        sent++
        streamed.set(request, sent)
        this.push(`chunk${sent} `)
      }
    })
    return await reply.type('text/plain').send(stream)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const req = httpRequest({ port, host: '127.0.0.1', path: '/stream' })
  req.end()
  const [res] = await once(req, 'response') as [NodeJS.ReadableStream]
  await once(res, 'data')
  req.destroy()
  t.equal(await settledWith, 2, 'an aborted 200 is not a success: it is settled, not refunded')
  t.match(await app.rateLimit.peek({ route: 'GET /stream', ip: '127.0.0.1' }), { remaining: 97 })
})

t.test('a store that answers after its timeout: the late failure is not counted again', async (t) => {
  const late: Array<(err: Error) => void> = []
  const store = requiredOnlyStore(t, { consume: async () => await new Promise<StoreDecision>((_resolve, reject) => { late.push(reject) }) })
  const { app } = await build({ store, storeTimeoutMs: 20 })
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: '5/min' } }, async () => 'ok')
  t.equal((await app.inject('/r')).statusCode, 200, 'timed out: decided on the fallback store')
  t.equal((await app.rateLimit.stats()).storeErrors, 1)
  for (const reject of late) reject(new Error('too late'))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal((await app.rateLimit.stats()).storeErrors, 1, 'the late rejection is ignored')
})

t.test('a settled cost the store fails to charge is logged; the request stays charged its estimate', async (t) => {
  const store = new MemoryStore()
  store.charge = () => { throw new Error('charge failed') }
  const { lines, logger } = captureLog('warn')
  const { app } = await build({ store, algorithm: 'fixed-window' }, { logger })
  t.teardown(() => app.close())
  let settled: boolean | undefined
  app.post('/chat', { config: { rateLimit: '100/min' } }, async (request) => {
    settled = await app.rateLimit.settle(request, 5)
    return 'ok'
  })
  t.equal((await app.inject({ method: 'POST', url: '/chat' })).statusCode, 200)
  t.equal(settled, false)
  t.ok(lines.some((l) => /charging a settled cost failed/.test(l.msg)))
  t.match(await app.rateLimit.peek({ route: 'POST /chat', ip: '127.0.0.1' }), { remaining: 98 })
})

t.test('settlements and resets: a reset of another bucket gives nothing away; past 10,000 remembered resets, older charges are not settled', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  let between: () => Promise<void> = async () => {}
  const settled: boolean[] = []
  app.post('/chat', { config: { rateLimit: '100/min' } }, async (request) => {
    await between()
    settled.push(await app.rateLimit.settle(request, 0))
    return 'ok'
  })
  between = async () => { await app.rateLimit.reset({ route: 'POST /chat', ip: '10.9.9.9' }) }
  await app.inject({ method: 'POST', url: '/chat' })
  t.same(settled, [true], 'refunded: the reset was of another client')
  between = async () => {
    for (let i = 0; i <= 10_000; i++) await app.rateLimit.reset({ route: 'POST /chat', ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` })
  }
  await app.inject({ method: 'POST', url: '/chat' })
  t.same(settled, [true, false], 'too many resets since the charge to know whether its bucket was one: nothing given back')
  t.match(await app.rateLimit.peek({ route: 'POST /chat', ip: '127.0.0.1' }), { remaining: 98 })
})

t.test("a Swagger 2.0 document documents the problem 503 of onStoreError: 'deny' without a media type", async (t) => {
  const app = Fastify()
  await app.register(swagger, { swagger: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(limiter, { errorFormat: 'problem', onStoreError: 'deny' })
  app.get('/p', { config: { rateLimit: '1/min' } }, async () => 'ok')
  await app.ready()
  const doc = app.swagger() as unknown as { paths: Record<string, { get: { responses: Record<string, { schema?: { properties: Record<string, unknown> }, content?: unknown }> } }> }
  const unavailable = doc.paths['/p'].get.responses['503']
  t.ok(unavailable.schema?.properties.type, 'the problem body')
  t.notOk(unavailable.content)
  await app.close()
})
