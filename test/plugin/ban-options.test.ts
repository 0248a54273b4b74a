// Bans (issue 12): the `ban` and `onBan` options checked at registration, their plugin/route
// precedence, the OpenAPI document and metrics of a route with a ban, and what a failing strike does.
import t from 'tap'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import SwaggerParser from '@apidevtools/swagger-parser'
import client from 'prom-client'
import limiter, { MemoryStore } from '../../index.js'
import type { FastifyLimiterOptions, LimitContext, Store } from '../../index.js'
import type { BanStrike } from '../../stores/store.js'
import { build, requiredOnlyStore } from '../support/helpers.js'

const ok = async () => ({ ok: true })

async function status (app: Awaited<ReturnType<typeof build>>['app'], url = '/r', ip = '10.0.0.1'): Promise<number> {
  return (await app.inject({ url, remoteAddress: ip })).statusCode
}

t.test('bad ban options are coded registration errors naming the route, the path and the value', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ after: 0, for: '1min' }, /config\.rateLimit\.ban\.after: expected an integer from 1 to 1000000, received 0$/],
    [{ after: 1.5, for: '1min' }, /config\.rateLimit\.ban\.after/],
    [{ after: 1 }, /config\.rateLimit\.ban\.for: expected a duration like '15min' or milliseconds, received nothing \(`for` is missing\)$/],
    [{ after: 1, for: 0 }, /config\.rateLimit\.ban\.for/],
    [{ after: 1, for: '1 fortnight' }, /config\.rateLimit\.ban\.for: expected a duration like '15min' or milliseconds, from 1 ms to 365 days, received '1 fortnight'/],
    [{ after: 1, for: '366d' }, /config\.rateLimit\.ban\.for: expected a duration/],
    [{ after: 1, for: 'x' }, /config\.rateLimit\.ban\.for: expected a duration/],
    [{ after: 1, for: '1min', backoff: 0.5 }, /config\.rateLimit\.ban\.backoff/],
    [{ after: 1, for: '1min', backoff: 1.0001 }, /config\.rateLimit\.ban\.backoff: expected a number from 1 to 100 in steps of 0\.001, received 1\.0001/],
    [{ after: 1, for: '1min', backoff: 101 }, /config\.rateLimit\.ban\.backoff/],
    [{ after: 1, for: '1min', max: '30s' }, /config\.rateLimit\.ban\.max: expected a duration at least as long as for \(60000 ms\), received '30s' \(30000 ms\)/],
    [{ after: 1, for: '1min', max: 'soon' }, /config\.rateLimit\.ban\.max: expected a duration like '1d'/],
    [{ after: 1, for: '1min', statusCode: 200 }, /config\.rateLimit\.ban\.statusCode/],
    [{ after: 1, for: '1min', statusCode: 600 }, /config\.rateLimit\.ban\.statusCode/],
    [{ after: 1, for: '1min', extend: 'yes' }, /config\.rateLimit\.ban\.extend: expected true or false, received 'yes'$/],
    [{ after: 1, for: '1min', forever: true }, /config\.rateLimit\.ban\.forever: expected a known option \(after, for, backoff, max, statusCode, extend\), received an unknown option$/]
  ]
  for (const [ban, message] of cases) {
    const app = Fastify()
    await app.register(limiter)
    let err: (Error & { code?: string }) | undefined
    try {
      app.get('/r', { config: { rateLimit: { ip: '1/min', ban } as never } }, ok)
      await app.ready()
    } catch (e) {
      err = e as Error & { code?: string }
    }
    t.equal(err?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG', JSON.stringify(ban))
    t.match(err?.message, /^Route GET \/r: /)
    t.match(err?.message, message)
    await app.close()
  }
})

t.test('bad plugin ban options are FST_LIMITER_INVALID_OPTION naming the option', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ after: 1, for: 'never' }, /^fastify-limiter option ban\.for: expected a duration/],
    [{ after: 1, for: '1h', max: '1min' }, /^fastify-limiter option ban\.max: expected a duration at least as long as for/],
    [{ after: 1, for: '1h', backoff: 2.00001 }, /^fastify-limiter option ban\.backoff/],
    [{ after: 0, for: '1h' }, /^fastify-limiter option ban\.after: expected an integer from 1 to 1000000, received 0$/],
    [{ for: '1h' }, /^fastify-limiter option ban\.after: expected an integer from 1 to 1000000, received nothing \(`after` is missing\)$/],
    [{ after: 1, for: '1h', extend: 1 }, /^fastify-limiter option ban\.extend: expected true or false, received 1$/]
  ]
  for (const [ban, message] of cases) {
    const app = Fastify()
    const err = await app.register(limiter, { ban } as never).then(() => undefined, (e: Error & { code?: string }) => e)
    t.equal(err?.code, 'FST_LIMITER_INVALID_OPTION', JSON.stringify(ban))
    t.match(err?.message, message)
    await app.close()
  }
})

t.test('a store without strike() is refused by a limit with a ban, and only then', async (t) => {
  const store = requiredOnlyStore(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(limiter, { store })
  app.get('/plain', { config: { rateLimit: '1/min' } }, ok)
  let err: (Error & { code?: string }) | undefined
  try {
    app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min' } } } }, ok)
  } catch (e) {
    err = e as Error & { code?: string }
  }
  t.equal(err?.code, 'FST_LIMITER_STORE_LACKS_METHOD')
  t.match(err?.message, /^Route GET \/r: config\.rateLimit\.ban needs the store method strike\(\)/)
  const plugin = await Fastify().register(limiter, { store, ban: { after: 1, for: '1min' } }).then(() => undefined, (e: Error & { code?: string }) => e)
  t.equal(plugin?.code, 'FST_LIMITER_STORE_LACKS_METHOD', 'the plugin option too')
})

t.test('a route onBan needs a ban', async (t) => {
  for (const options of [{}, { ban: { after: 1, for: '1min' } }] as FastifyLimiterOptions[]) {
    const app = Fastify()
    await app.register(limiter, options)
    let err: (Error & { code?: string }) | undefined
    try {
      app.get('/r', { config: { rateLimit: { ip: '1/min', ...(options.ban === undefined ? {} : { ban: false }), onBan: () => {} } } }, ok)
    } catch (e) {
      err = e as Error & { code?: string }
    }
    t.equal(err?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG')
    t.match(err?.message, /config\.rateLimit\.onBan: expected a ban beside onBan \(the limit's or the plugin's\), received onBan without a ban$/)
    await app.close()
  }
})

t.test('the plugin ban applies to every limit that does not say; a route may override it or turn it off', async (t) => {
  const told: string[] = []
  const { app } = await build({
    algorithm: 'fixed-window',
    ban: { after: 1, for: '1min', statusCode: 429 },
    onBan: (request) => { told.push(`plugin ${request.url}`) },
    global: '1/min'
  })
  t.teardown(() => app.close())
  app.get('/global', ok)
  app.get('/own', { config: { rateLimit: { ip: '1/min', onBan: (request) => { told.push(`route ${request.url}`) } } } }, ok)
  app.get('/strict', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '2min' } } } }, ok)
  app.get('/off', { config: { rateLimit: { ip: '1/min', ban: false } } }, ok)
  const answer = async (url: string) => {
    const res = await app.inject({ url, remoteAddress: '10.0.0.1' })
    return [res.statusCode, res.headers['retry-after'], res.json().error]
  }
  await answer('/global')
  t.same(await answer('/global'), [429, '60', 'Too Many Requests'], 'the plugin ban, with statusCode 429')
  await answer('/own')
  t.same(await answer('/own'), [429, '60', 'Too Many Requests'], "the plugin ban, with the route's onBan")
  await answer('/strict')
  t.same(await answer('/strict'), [403, '120', 'Forbidden'], "the route's own ban, with the plugin's onBan")
  await answer('/off')
  const off = await app.inject({ url: '/off', remoteAddress: '10.0.0.1' })
  t.equal(off.statusCode, 429)
  t.equal(off.json().message, 'Rate limit exceeded, retry in 40 seconds', 'no ban: an ordinary 429')
  t.same(told, ['plugin /global', 'route /own', 'plugin /strict'])
  const stats = await app.rateLimit.stats()
  t.same([stats.banned, stats.bans], [3, 3])
  t.equal(stats.routes['GET /off'].bans, undefined, 'a route never banned has no ban counters')
})

t.test("with apply: 'all', each identity has its own ban; the one that was denied is banned", async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string, rate: '1/min', ip: '10/min', apply: 'all', ban: { after: 1, for: '5min' } } } }, ok)
  const get = async (key: string) => (await app.inject({ url: '/r', remoteAddress: '10.0.0.1', headers: { 'x-key': key } })).statusCode
  t.equal(await get('a'), 200)
  t.equal(await get('a'), 403, 'key a denied: key a banned')
  t.equal(await get('b'), 200, 'key b from the same IP: the IP is not banned')
  const peeked = await app.rateLimit.peek({ route: 'GET /r', key: 'a' })
  t.same([peeked?.banned, peeked?.bucket, peeked?.rate], [true, 'key', '1/min'])
})

t.test('errorFormat problem and a custom errorResponseBuilder get context.banned and the status', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  app.get('/problem', { config: { rateLimit: { ip: '1/min', errorFormat: 'problem', ban: { after: 1, for: '1min', statusCode: 418 } } } }, ok)
  await status(app, '/problem')
  const problem = await app.inject({ url: '/problem', remoteAddress: '10.0.0.1' })
  t.equal(problem.statusCode, 418)
  t.same([problem.json().status, problem.json().detail], [418, 'Banned after repeated requests over the rate limit, retry in 60 seconds'])
  const custom = await build({ algorithm: 'fixed-window', errorResponseBuilder: async (_request, context: LimitContext) => ({ banned: context.banned === true, status: context.statusCode }) })
  t.teardown(() => custom.app.close())
  custom.app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 2, for: '1min' } } } }, ok)
  await status(custom.app)
  const first = await custom.app.inject({ url: '/r', remoteAddress: '10.0.0.1' })
  t.same([first.statusCode, first.json()], [429, { banned: false, status: 429 }])
  const second = await custom.app.inject({ url: '/r', remoteAddress: '10.0.0.1' })
  t.same([second.statusCode, second.json()], [403, { banned: true, status: 403 }])
})

t.test('the OpenAPI document shows the ban response on routes with a ban', async (t) => {
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(limiter)
  app.get('/banned', { config: { rateLimit: { ip: '10/min', ban: { after: 3, for: '1min', backoff: 2, max: '1h' } } } }, ok)
  app.get('/problem', { config: { rateLimit: { ip: '10/min', errorFormat: 'problem', ban: { after: 3, for: '1min' } } } }, ok)
  app.get('/as429', { config: { rateLimit: { ip: '10/min', ban: { after: 3, for: '1min', statusCode: 429 } } } }, ok)
  app.get('/extended', { config: { rateLimit: { ip: '10/min', ban: { after: 1, for: '1min', extend: true, statusCode: 429 } } } }, ok)
  app.get('/dry', { config: { rateLimit: { ip: '10/min', dryRun: true, ban: { after: 3, for: '1min' } } } }, ok)
  app.get('/plain', { config: { rateLimit: '10/min' } }, ok)
  await app.ready()
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, any>> }
  await SwaggerParser.validate(structuredClone(doc) as never)
  const banned = doc.paths['/banned'].get
  t.match(banned.description, /3 denials within a window ban the client for 60000 ms \(each further ban 2 times longer, up to 3600000 ms\) with a 403\)\.$/)
  t.same(banned['x-ratelimit'].ban, { after: 3, forMs: 60_000, backoff: 2, maxMs: 3_600_000, statusCode: 403, extend: false })
  const extended = doc.paths['/extended'].get
  t.match(extended.description, /1 denials within a window ban the client for 60000 ms, started again by every request during it, with a 429\)\.$/)
  t.equal(extended['x-ratelimit'].ban.extend, true)
  const forbidden = banned.responses['403']
  t.match(forbidden.description, /^Banned: too many requests over the limit\./)
  const body = forbidden.content['application/json'].schema
  t.same(body.properties.statusCode, { type: 'integer', enum: [403] })
  t.same(body.properties.error, { type: 'string', enum: ['Forbidden'] })
  t.ok(forbidden.headers['Retry-After'], "the 429's headers, Retry-After too")
  const problem = doc.paths['/problem'].get.responses['403']
  const problemBody = problem.content['application/problem+json'].schema
  t.same(problemBody.properties.status, { type: 'integer', enum: [403] })
  t.same(problemBody.properties.type, { type: 'string', enum: ['https://iana.org/assignments/http-problem-types#abnormal-usage-detected'] })
  t.same(problemBody.properties.title, { type: 'string', enum: ['Abnormal Usage Detected'] })
  t.same(Object.keys(doc.paths['/as429'].get.responses).sort(), ['200', '429'], 'statusCode 429: the 429 already describes it')
  t.equal(doc.paths['/dry'].get.responses['403'], undefined, 'dry run: never answered as banned')
  t.equal(doc.paths['/plain'].get.responses['403'], undefined)
  await app.close()
})

t.test('a custom errorResponseBuilder: the ban response keeps its schema (or none), in Swagger 2.0 too', async (t) => {
  const app = Fastify()
  await app.register(swagger, { swagger: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(limiter, { errorResponseBuilder: () => ({ no: true }), openapi: { errorSchema: { type: 'object', properties: { no: { type: 'boolean' } } } } })
  app.get('/banned', { config: { rateLimit: { ip: '10/min', headers: false, ban: { after: 3, for: '1min' } } } }, ok)
  await app.ready()
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, any>> }
  const forbidden = doc.paths['/banned'].get.responses['403']
  t.same(forbidden.schema.properties, { no: { type: 'boolean' } })
  t.equal(forbidden.headers, undefined, 'headers: false')
  await app.close()
})

t.test('metrics count bans and banned requests by route', async (t) => {
  const registry = new client.Registry()
  const { app } = await build({ algorithm: 'fixed-window', metrics: { registry } })
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min' } } } }, ok)
  await status(app)
  await status(app)
  await status(app)
  const text = await registry.metrics()
  t.match(text, /fastify_limiter_banned_total\{route="GET \/r"\} 2/)
  t.match(text, /fastify_limiter_bans_total\{route="GET \/r"\} 1/)
})

/** A memory store whose strike fails as told (or, `over`, says there is no ban), and that counts its strikes. */
class StrikeFails extends MemoryStore {
  mode: 'throw' | 'reject' | 'hang' | 'over' | 'none' = 'none'
  strikes = 0
  override strike (key: string, rule: Parameters<MemoryStore['strike']>[1], now?: number): BanStrike {
    this.strikes++
    if (this.mode === 'throw') throw new Error('strike down (sync)')
    if (this.mode === 'reject') return Promise.reject(new Error('strike down (async)')) as never
    if (this.mode === 'hang') return new Promise(() => {}) as never
    // the ban ended between the gate and the strike (the strike counted a denial, below after)
    if (this.mode === 'over') return { until: 0, started: false }
    return super.strike(key, rule, now)
  }
}

t.test('a banned request is struck only with extend: without it, a ban costs no store call per request', async (t) => {
  for (const extend of [false, true]) {
    const store = new StrikeFails()
    t.teardown(() => store.close())
    const { app } = await build({ algorithm: 'fixed-window', store })
    t.teardown(() => app.close())
    app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min', extend } } } }, ok)
    t.same([await status(app), await status(app), await status(app), await status(app)], [200, 403, 403, 403], `extend: ${extend}`)
    t.equal(store.strikes, extend ? 3 : 1, extend ? 'every denial struck' : 'the rate\'s denial only')
  }
})

t.test('with extend, a strike that fails or finds the ban over leaves the ban its gate said, unlengthened', async (t) => {
  for (const mode of ['throw', 'reject', 'hang', 'over'] as const) {
    const store = new StrikeFails()
    t.teardown(() => store.close())
    const { app, clock } = await build({ algorithm: 'fixed-window', store, storeTimeoutMs: 20 })
    app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min', extend: true } } } }, ok)
    await status(app)
    t.equal(await status(app), 403, 'banned for 60 s')
    clock.advance(15_000)
    store.mode = mode
    const banned = await app.inject({ url: '/r', remoteAddress: '10.0.0.1' })
    t.same([banned.statusCode, banned.headers['retry-after']], [403, '45'], `${mode}: still banned, until the end the gate said`)
    t.equal((await app.rateLimit.stats()).storeErrors, mode === 'over' ? 0 : 1, `${mode}: a store error unless the store answered`)
    store.mode = 'none'
    clock.advance(45_000)
    t.equal(await status(app), 200, `${mode}: not restarted: over 60 s after it started`)
    await app.close()
  }
})

t.test('a strike that throws, rejects or hangs leaves the ordinary 429, counted as a store error', async (t) => {
  for (const mode of ['throw', 'reject', 'hang'] as const) {
    const store = new StrikeFails()
    t.teardown(() => store.close())
    const { app } = await build({ algorithm: 'fixed-window', store, storeTimeoutMs: 20 })
    app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min' } } } }, ok)
    await status(app)
    store.mode = mode
    t.equal(await status(app), 429, `${mode}: an ordinary 429`)
    const stats = await app.rateLimit.stats()
    t.same([stats.storeErrors, stats.bans], [1, 0], `${mode}: a store error, no ban`)
    store.mode = 'none'
    // one failure, quick or not, leaves the breaker closed (docs/failure-modes.md): the store is asked again
    t.equal(await status(app), 403, `${mode}: the next request (a ban when the store is asked again)`)
    await app.close()
  }
})

t.test('with the breaker open, strikes go to the fallback store under onStoreError fallback, else nowhere', async (t) => {
  for (const onStoreError of ['fallback', 'allow'] as const) {
    const store = new StrikeFails()
    t.teardown(() => store.close())
    const { app } = await build({ algorithm: 'fixed-window', store, onStoreError })
    t.teardown(() => app.close())
    app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min' } } } }, ok)
    app.get('/fail', { config: { rateLimit: { ip: '1/min' } } }, ok)
    // one synchronous failure opens the breaker
    store.consume = () => { throw new Error('down') }
    await status(app, '/fail')
    const codes = [await status(app), await status(app)]
    t.same(codes, onStoreError === 'fallback' ? [200, 403] : [200, 200], `${onStoreError}: decided without the store`)
  }
})

t.test('a consume that fails falls back with the gates: the fallback store bans too', async (t) => {
  const store = new StrikeFails()
  t.teardown(() => store.close())
  const { app } = await build({ algorithm: 'fixed-window', store })
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min' } } } }, ok)
  store.consume = () => Promise.reject(new Error('down')) as never
  t.same([await status(app), await status(app), await status(app)], [200, 403, 403], 'decided and banned on the local fallback store')
})

t.test("with apply: 'all', a banned IP is banned whatever key it sends", async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string, rate: '10/min', ip: '1/min', apply: 'all', ban: { after: 1, for: '5min' } } } }, ok)
  const get = async (key: string) => await app.inject({ url: '/r', remoteAddress: '10.0.0.1', headers: { 'x-key': key } })
  t.equal((await get('a')).statusCode, 200)
  t.equal((await get('b')).statusCode, 403, 'the IP denied: the IP banned')
  const other = await get('c')
  t.same([other.statusCode, other.headers['retry-after']], [403, '300'], "a new key: the IP's gate, second, denies")
})

t.test('a ban status without a name, and the default max of a ban with backoff', async (t) => {
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(limiter, { algorithm: 'fixed-window' })
  app.get('/odd', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min', statusCode: 499 } } } }, ok)
  app.get('/backoff', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min', backoff: 2 } } } }, ok)
  app.get('/long', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '2d', backoff: 2 } } } }, ok)
  await app.ready()
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, any>> }
  t.same(doc.paths['/odd'].get.responses['499'].content['application/json'].schema.properties.error, { type: 'string', enum: ['Error'] })
  t.equal(doc.paths['/backoff'].get['x-ratelimit'].ban.maxMs, 86_400_000, 'backoff without max: at most a day')
  t.equal(doc.paths['/long'].get['x-ratelimit'].ban.maxMs, 172_800_000, 'or for, when longer')
  await app.inject({ url: '/odd', remoteAddress: '10.0.0.1' })
  const odd = await app.inject({ url: '/odd', remoteAddress: '10.0.0.1' })
  t.same([odd.statusCode, odd.json().error], [499, 'Error'])
  await app.close()
})

t.test('a custom 429 builder with problem+json and no errorSchema: the ban response has an empty schema', async (t) => {
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(limiter, { errorFormat: 'problem', errorResponseBuilder: () => ({ custom: true }) })
  app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min' } } } }, ok)
  await app.ready()
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, any>> }
  t.same(doc.paths['/r'].get.responses['403'].content['application/problem+json'].schema, {})
  await app.close()
})

t.test('a denial remembered while the breaker is open: the strike goes to the fallback, or nowhere', async (t) => {
  for (const onStoreError of ['fallback', 'allow'] as const) {
    const memory = new MemoryStore()
    t.teardown(() => memory.close())
    const strikes: string[] = []
    // not a MemoryStore: the plugin remembers its denials (the denial cache)
    const store: Store = {
      consume: (buckets, cost, now) => {
        if (buckets.some((b) => b.key.includes('fail'))) throw new Error('down')
        return Promise.resolve(memory.consume(buckets, cost, now))
      },
      reset: (key) => memory.reset(key),
      clear: (prefix) => memory.clear(prefix),
      stats: () => memory.stats(),
      close: () => {},
      strike: (key, rule, now) => {
        strikes.push(key)
        return memory.strike(key, rule, now)
      }
    }
    const { app } = await build({ algorithm: 'fixed-window', store, onStoreError })
    t.teardown(() => app.close())
    app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 2, for: '1min' } } } }, ok)
    app.get('/fail', { config: { rateLimit: { ip: '1/min' } } }, ok)
    t.same([await status(app), await status(app)], [200, 429], 'strike 1 on the store; the denial is remembered')
    for (let i = 0; i < 5; i++) await status(app, '/fail') // five failures in a row open the breaker
    const third = await status(app)
    t.equal(strikes.length, 1, `${onStoreError}: the store is not asked`)
    t.equal(third, 429, `${onStoreError}: the remembered denial, an ordinary 429`)
    t.equal((await app.rateLimit.stats()).bans, 0, onStoreError === 'fallback' ? 'strike 1 on the empty fallback' : 'not counted')
  }
})
