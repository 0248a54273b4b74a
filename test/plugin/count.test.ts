// Issue 12, `count`: a request is charged on arrival and refunded in onResponse when its
// response should not count ('failed': status >= 400 counts; 'successful': status < 400
// counts; a function: false refunds). Login protection on memory, SQLite and Redis.
import t from 'tap'
import type { Test } from 'tap'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import limiter from '../../index.js'
import { MemoryStore } from '../../stores/memory.js'
import { RedisStore } from '../../stores/redis.js'
import { SqliteStore } from '../../stores/sqlite.js'
import type { FastifyLimiterOptions, Store } from '../../index.js'
import { build, hit, requiredOnlyStore } from '../support/helpers.js'
import { tempDir } from '../support/sqlite.js'
import { connect, redisAvailable, startRedis } from '../support/redis.js'

/** One turn of the event loop: an asynchronous store's refund is sent before the next request. */
const settle = async () => await new Promise((resolve) => setImmediate(resolve))

async function loginApp (t: Test, options: FastifyLimiterOptions): Promise<FastifyInstance> {
  const { app } = await build({ algorithm: 'fixed-window', ...options })
  t.teardown(() => app.close())
  app.post('/login', { config: { rateLimit: { ip: '5/15min', count: 'failed' } } }, async (request, reply) => {
    if ((request.body as { password: string }).password !== 'right') return await reply.code(401).send({ ok: false })
    return { ok: true }
  })
  return app
}

async function login (app: FastifyInstance, password: string): Promise<number> {
  const res = await app.inject({ method: 'POST', url: '/login', payload: { password } })
  await settle()
  return res.statusCode
}

async function suite (t: Test, name: string, options: () => Promise<FastifyLimiterOptions>): Promise<void> {
  t.test(`${name}: login protection, 5 failed logins blocked, successes free`, async (t) => {
    const app = await loginApp(t, await options())
    for (let i = 0; i < 20; i++) t.equal(await login(app, 'right'), 200, 'successes are refunded')
    for (let i = 0; i < 5; i++) t.equal(await login(app, 'wrong'), 401)
    t.equal(await login(app, 'right'), 429, 'five failures: blocked, even with the right password')
    t.equal(await login(app, 'wrong'), 429)
  })

  t.test(`${name}: 'successful' counts only successes; a denial was never charged, so nothing is refunded`, async (t) => {
    const { app } = await build({ algorithm: 'fixed-window', count: 'successful', ...await options() })
    t.teardown(() => app.close())
    app.get('/r', { config: { rateLimit: '2/min' } }, async (request, reply) => {
      if (request.headers['x-fail'] === '1') return await reply.code(500).send('broken')
      return 'ok'
    })
    const get = async (fail = false) => {
      const res = await app.inject({ url: '/r', headers: fail ? { 'x-fail': '1' } : {} })
      await settle()
      return res.statusCode
    }
    for (let i = 0; i < 5; i++) t.equal(await get(true), 500, 'failures are refunded')
    t.equal(await get(), 200)
    t.equal(await get(), 200)
    t.equal(await get(), 429)
    t.equal(await get(), 429, 'the 429 (a failure) was not refunded: it was never charged')
  })
}

await suite(t, 'memory', async () => ({}))
await suite(t, 'SQLite', async () => ({ store: new SqliteStore({ path: join(tempDir(t), 'count.db') }) }))
if (redisAvailable(t)) {
  await suite(t, 'Redis', async () => {
    const server = await startRedis(t)
    return { store: new RedisStore({ client: connect(t, server.port) }) }
  })
}

for (const mode of ['sync', 'async'] as const) {
  t.test(`a count function (${mode}): false refunds, anything else counts; a throw counts and is logged once`, async (t) => {
    const logs: string[] = []
    let answer: () => unknown = () => false
    const count = (_request: FastifyRequest, _reply: FastifyReply) => {
      const value = answer()
      return (mode === 'sync' ? value : Promise.resolve().then(() => value)) as boolean
    }
    const { app } = await build({ algorithm: 'fixed-window' }, { logger: { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } } })
    app.get('/r', { config: { rateLimit: { ip: '2/min', count } } }, async () => 'ok')
    const get = async () => {
      const res = await app.inject('/r')
      await settle()
      return res.statusCode
    }
    t.same([await get(), await get(), await get()], [200, 200, 200], 'false: refunded')
    answer = () => undefined
    t.equal(await get(), 200)
    answer = () => { throw new Error('count broke') }
    t.equal(await get(), 200)
    t.equal(await get(), 429, 'undefined and a throw count')
    answer = () => { throw new Error('count broke') }
    await app.rateLimit.reset({ ip: '127.0.0.1' })
    await get()
    t.equal(logs.filter((l) => l.includes('the count function threw')).length, 1, 'logged once per cause')
  })
}

t.test('the plugin option, a route overriding it, and a charge of each limit settled once', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window', count: 'failed' })
  app.get('/default', { config: { rateLimit: '1/min' } }, async () => 'ok')
  app.get('/all', { config: { rateLimit: { ip: '1/min', count: 'all' } } }, async () => 'ok')
  // a hook() limit and the route's own limit on one request: each refunds its own buckets
  app.get('/both', { config: { rateLimit: '1/min' }, onRequest: app.rateLimit.hook({ ip: '1/min', group: 'g' }) }, async () => 'ok')
  t.same(await hit(app, '/default', 3), [200, 200, 200])
  t.same(await hit(app, '/all', 2), [200, 429])
  t.same(await hit(app, '/both', 3), [200, 200, 200])
})

t.test('an uncountable request (a cost that cannot be computed) stays charged', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window', count: 'successful' })
  app.get('/r', { config: { rateLimit: { ip: '2/min', cost: () => { throw new Error('no cost') } } } }, async () => 'ok')
  t.same(await hit(app, '/r', 3), [500, 500, 429])
})

t.test('a store without refund() cannot take a count other than all', async (t) => {
  const store = requiredOnlyStore(t)
  await t.rejects(build({ store, count: 'failed' }), { code: 'FST_LIMITER_STORE_LACKS_METHOD', message: /fastify-limiter option: count 'failed' needs the store method refund\(\)/ })
  const { app } = await build({ store })
  t.throws(() => app.get('/r', { config: { rateLimit: { ip: '1/min', count: () => true } } }, async () => 'ok'), {
    code: 'FST_LIMITER_STORE_LACKS_METHOD',
    message: /^Route GET \/r: config\.rateLimit\.count \(a function\) needs the store method refund\(\)/
  })
  app.get('/ok', { config: { rateLimit: { ip: '1/min', count: 'all' } } }, async () => 'ok')
  t.same(await hit(app, '/ok', 2), [200, 429])
})

t.test('a refund that fails is logged once and never fails the response; the request stays counted', async (t) => {
  for (const how of ['throws', 'rejects'] as const) {
    const store = requiredOnlyStore(t, {
      refund: how === 'throws' ? () => { throw new Error('refund down') } : async () => { throw new Error('refund down') }
    })
    const logs: string[] = []
    const { app } = await build({ store, algorithm: 'fixed-window', count: 'failed' }, { logger: { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } } })
    app.get('/r', { config: { rateLimit: '2/min' } }, async () => 'ok')
    const codes: number[] = []
    for (let i = 0; i < 3; i++) {
      codes.push((await app.inject('/r')).statusCode)
      await settle()
    }
    t.same(codes, [200, 200, 429], how)
    t.equal(logs.filter((l) => l.includes('a refund failed')).length, 1, `${how}: logged once`)
  }
})

t.test('a charge on the local fallback store is refunded there', async (t) => {
  const memory = new MemoryStore()
  t.teardown(() => memory.close())
  const store: Store = {
    consume: () => { throw new Error('store down') },
    reset: (k) => memory.reset(k),
    clear: (p) => memory.clear(p),
    stats: () => memory.stats(),
    close: () => {},
    refund: () => { throw new Error('the plugin store must not be refunded') }
  }
  const { app } = await build({ store, algorithm: 'fixed-window', count: 'failed' }, { logger: false })
  app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  app.get('/fail', { config: { rateLimit: { ip: '1/min', group: 'f' } } }, async (request, reply) => await reply.code(400).send('no'))
  t.same(await hit(app, '/r', 3), [200, 200, 200])
  t.same(await hit(app, '/fail', 2), [400, 429])
})

t.test('without a clock; each registration settles the charges of its own limits', async (t) => {
  const app = Fastify()
  await app.register(limiter, { algorithm: 'fixed-window', count: 'failed' })
  const parentHook = app.rateLimit.hook({ ip: '1/min', group: 'parent' })
  await app.register(async (child) => {
    await child.register(limiter, { algorithm: 'fixed-window', count: 'failed' })
    child.get('/child', { config: { rateLimit: '1/min' }, onRequest: parentHook }, async () => 'ok')
  })
  app.get('/parent', { config: { rateLimit: '1/min' } }, async () => 'ok')
  t.same(await hit(app, '/parent', 3), [200, 200, 200])
  t.same(await hit(app, '/child', 3), [200, 200, 200], 'both limits refunded, each by its registration')
  await app.close()
})

t.test('failures of many causes are each logged once, whatever is thrown', async (t) => {
  const logs: string[] = []
  let n = 0
  const { app } = await build({}, { logger: { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } } })
  app.get('/r', { config: { rateLimit: { ip: '1000/min', count: () => { throw `cause ${n}` } } } }, async () => 'ok') // eslint-disable-line no-throw-literal
  for (n = 0; n < 105; n++) await app.inject('/r')
  n = 0
  await app.inject('/r')
  t.equal(logs.filter((l) => l.includes('the count function threw')).length, 106, 'the list of causes started over past 100')
  t.ok(logs.some((l) => l.includes('cause 104')))
})
