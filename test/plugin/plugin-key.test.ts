import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { compileLimit } from '../../lib/config/compile.js'
import { resolveOptions } from '../../lib/config/options.js'
import { limitLine } from '../../lib/observe/openapi.js'
import { build, captureLog, gate, hit, thrown, until } from '../support/helpers.js'

// The plugin-level `key` + `rate` (issue 20, item 1): the app-wide key function of
// @fastify/rate-limit's `keyGenerator`. Every limit with rates and no key of its own inherits it,
// so a route override such as '10/min' keeps counting per key.

const apiKey = (request: FastifyRequest) => request.headers['x-api-key'] as string | undefined
const bucket = async (request: FastifyRequest) => ({ bucket: request.rateLimit?.bucket ?? null })
const as = (key?: string): Record<string, string> => key === undefined ? {} : { 'x-api-key': key }

t.test("a route's rate string counts per key, and per IP at the same rate without a key", async (t) => {
  const { app } = await build({ key: apiKey, rate: '100/min' })
  app.get('/r', { config: { rateLimit: '2/min' } }, bucket)
  // two API keys from one IP: a bucket each, at the route's rate
  t.same(await hit(app, '/r', 3, as('a')), [200, 200, 429])
  t.same(await hit(app, '/r', 3, as('b')), [200, 200, 429], 'a second key from the same IP has its own bucket')
  t.same((await app.inject({ url: '/r', headers: as('c') })).json(), { bucket: 'key' })
  t.equal((await app.inject({ url: '/r', headers: as('c') })).headers['x-ratelimit-limit'], '2', "the route's rate, not the plugin's")
  // the IP's bucket was never charged by the keyed requests
  t.same(await hit(app, '/r', 3), [200, 200, 429], 'without a key: the IP at the same rate')
  t.same((await app.inject({ url: '/r', headers: as('') })).statusCode, 429, "'' is no key: the IP's bucket")
})

t.test("a limit with only ip or user rates counts a key at the plugin's rate", async (t) => {
  const { app } = await build({ key: apiKey, rate: '3/min', user: (r) => r.headers['x-user'] as string | undefined })
  app.get('/ip', { config: { rateLimit: { ip: '1/min' } } }, bucket)
  app.get('/user', { config: { rateLimit: { ip: '1/min', user: '2/min' } } }, bucket)
  t.same(await hit(app, '/ip', 4, as('a')), [200, 200, 200, 429])
  t.same((await app.inject({ url: '/ip', headers: as('b') })).headers['x-ratelimit-limit'], '3')
  t.same(await hit(app, '/ip', 2), [200, 429], "the IP's own rate without a key")
  // key, user, IP: the first kind whose identity resolves
  t.same((await app.inject({ url: '/user', headers: { 'x-api-key': 'a', 'x-user': 'u' } })).json(), { bucket: 'key' })
  t.same((await app.inject({ url: '/user', headers: { 'x-user': 'u' } })).json(), { bucket: 'user' })
  t.same((await app.inject('/user')).json(), { bucket: 'ip' })
})

t.test("a route's rate alone is the plugin key's rate there; key: false counts no key; its own key wins", async (t) => {
  let asked = 0
  const { app } = await build({ key: (r) => { asked++; return apiKey(r) }, rate: '100/min' })
  app.get('/rate', { config: { rateLimit: { rate: '1/min' } } }, bucket)
  app.get('/off', { config: { rateLimit: { ip: '1/min', key: false } } }, bucket)
  app.get('/own', { config: { rateLimit: { key: (r) => r.headers['x-tenant'] as string | undefined, rate: '1/min' } } }, bucket)
  t.same(await hit(app, '/rate', 2, as('a')), [200, 429])
  t.same((await app.inject('/rate')).json(), { bucket: null }, 'no key and no ip rate: not limited')
  asked = 0
  t.same(await hit(app, '/off', 2, as('a')), [200, 429])
  t.same(await hit(app, '/off', 1, as('b')), [429], 'per IP whatever key it sends')
  t.equal(asked, 0, "the plugin's key is not asked where it is off")
  t.same(await hit(app, '/own', 2, { 'x-tenant': 't', 'x-api-key': 'a' }), [200, 429])
  t.same((await app.inject({ url: '/own', headers: { 'x-tenant': 'u', 'x-api-key': 'a' } })).json(), { bucket: 'key' }, 'per tenant')
  t.equal(asked, 0, "a limit's own key replaces the plugin's")
})

t.test('the key function is called once per request and limit, though a rate string counts by key and by IP', async (t) => {
  let asked = 0
  const { app } = await build({ key: (r) => { asked++; return apiKey(r) }, rate: '100/min' })
  app.get('/r', { config: { rateLimit: '5/min' } }, bucket)
  await hit(app, '/r', 2, as('a'))
  await hit(app, '/r', 2)
  t.equal(asked, 4)
})

t.test('global and hook() limits inherit it too', async (t) => {
  const { app } = await build({ key: apiKey, rate: '100/min', global: '1/min' })
  app.get('/g', bucket)
  app.get('/h', { config: { rateLimit: false }, onRequest: app.rateLimit.hook('1/min') }, bucket)
  for (const url of ['/g', '/h']) {
    t.same(await hit(app, url, 2, as('a')), [200, 429], `${url}: per key`)
    t.same(await hit(app, url, 1, as('b')), [200], `${url}: another key`)
    t.same(await hit(app, url, 2), [200, 429], `${url}: per IP without a key`)
  }
})

t.test("apply: 'all' counts the key and caps the IP whatever keys it sends", async (t) => {
  const { app } = await build({ key: apiKey, rate: '2/min' })
  app.get('/r', { config: { rateLimit: { ip: '3/min', apply: 'all' } } }, bucket)
  t.same(await hit(app, '/r', 3, as('a')), [200, 200, 429], "key a: the plugin's rate")
  t.same(await hit(app, '/r', 2, as('b')), [200, 429], 'key b: the IP cap (3/min) is reached')
})

t.test('a concurrency-only limit takes the plugin key for concurrency.key, and no rate', async (t) => {
  const { app } = await build({ key: apiKey, rate: '1/min' })
  const held = gate()
  app.get('/r', { config: { rateLimit: { concurrency: { key: 1 } } } }, held.handler)
  const first = app.inject({ url: '/r', headers: as('a') })
  await until(() => held.entered === 1)
  t.equal((await app.inject({ url: '/r', headers: as('a') })).statusCode, 429, 'one in flight per key')
  const other = app.inject({ url: '/r', headers: as('b') })
  await until(() => held.entered === 2)
  held.open()
  t.equal((await other).statusCode, 200, 'another key has its own slot')
  t.equal((await first).statusCode, 200)
  t.same(await hit(app, '/r', 3, as('a')), [200, 200, 200], "no rate was inherited: the plugin's rate limits nothing here")
})

t.test("selectors name the inherited key's buckets: reset, peek and consume { key }", async (t) => {
  const { app } = await build({ key: apiKey, rate: '100/min' })
  app.get('/r', { config: { rateLimit: '2/min' } }, bucket)
  await hit(app, '/r', 2, as('a'))
  t.match(await app.rateLimit.peek({ route: 'GET /r', key: 'a' }), { allowed: false, bucket: 'key', rate: '2/min' })
  await app.rateLimit.reset({ key: 'a' })
  t.match(await app.rateLimit.consume({ route: 'GET /r', key: 'a' }), { allowed: true, bucket: 'key', remaining: 1 })
  t.same(await hit(app, '/r', 2, as('a')), [200, 429])
})

t.test('the credentials warning: a request counted by its key is not warned about', async (t) => {
  const { lines, logger } = captureLog('warn')
  const { app } = await build({ key: apiKey, rate: '100/min' }, { logger })
  app.get('/r', { config: { rateLimit: { ip: '10/min', user: '10/min' } } }, bucket)
  await app.inject({ url: '/r', headers: { authorization: 'Bearer x', 'x-api-key': 'a' } })
  t.same(lines.filter((l) => l.rateLimit !== undefined), [], 'the key counted it: the user resolver was not asked')
  await app.inject({ url: '/r', headers: { authorization: 'Bearer x' } })
  t.equal(lines.filter((l) => l.rateLimit !== undefined).length, 1, 'without a key, a user limit with no user is warned about as before')
})

t.test("the plugin's rate may be a function, and is checked on each route as the route's own would be", async (t) => {
  const { app } = await build({ key: apiKey, rate: (r) => r.headers['x-plan'] === 'pro' ? '3/min' : '1/min' })
  app.get('/r', { config: { rateLimit: { ip: '10/min' } } }, bucket)
  t.same(await hit(app, '/r', 2, { 'x-api-key': 'a' }), [200, 429])
  t.same(await hit(app, '/r', 4, { 'x-api-key': 'p', 'x-plan': 'pro' }), [200, 200, 200, 429])
  const strict = await build({ key: apiKey, rate: '1/s', algorithm: 'token-bucket' })
  const err = thrown(() => strict.app.get('/b', { config: { rateLimit: { ip: '10/s', burst: 2000 } } }, bucket))
  t.same([err?.code, err?.message], ['FST_LIMITER_INVALID_ROUTE_CONFIG',
    "Route GET /b: config.rateLimit.rate (the plugin's rate): expected a burst of at most 1000 × the limit, and burst × window in ms at most 2251799813685247, received burst 2000 for '1/s'"])
  const cost = thrown(() => strict.app.get('/c', { config: { rateLimit: { ip: '10/s', cost: 2 } } }, bucket))
  t.match(cost?.message, /config\.rateLimit\.cost: expected a cost of at most 1, the smallest capacity of the limit/, "the plugin's rate counts in the limit's capacity")
})

t.test('without a plugin key, a rate string is per IP and rate alone needs a key, as before', async (t) => {
  const { app } = await build()
  app.get('/r', { config: { rateLimit: '1/min' } }, bucket)
  t.equal(thrown(() => app.get('/k', { config: { rateLimit: { ip: '1/s', key: false } } }, bucket)), undefined, 'key: false with no plugin key is harmless')
  t.equal(thrown(() => app.get('/x', { config: { rateLimit: { rate: '1/s' } } }, bucket))?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG')
  t.same((await app.inject({ url: '/r', headers: as('a') })).json(), { bucket: 'ip' })
  t.same(await hit(app, '/r', 1, as('b')), [429], 'one IP, one bucket, whatever the key')
})

t.test('OpenAPI: a rate string under a plugin key is documented per key and per IP', async (t) => {
  const options = resolveOptions({ key: apiKey, rate: '100/min' })
  t.teardown(() => options.store.close())
  const limit = compileLimit({ limit: '10/min', where: 'Route GET /r', path: 'config.rateLimit', route: 'GET /r', id: 'GET /r' }, options)
  t.equal(limitLine(limit), 'Rate limit: 10/min per IP, 10/min per key (sliding-window).')
  const ipOnly = compileLimit({ limit: { ip: '10/min' }, where: 'Route GET /i', path: 'config.rateLimit', route: 'GET /i', id: 'GET /i' }, options)
  t.equal(limitLine(ipOnly), 'Rate limit: 10/min per IP, 100/min per key (sliding-window).')
})

t.test('a concurrency-only limit without concurrency.key does not take the plugin key', async (t) => {
  const options = resolveOptions({ key: apiKey, rate: '100/min' })
  t.teardown(() => options.store.close())
  const limit = compileLimit({ limit: { concurrency: { ip: 1 } }, where: 'Route GET /s', path: 'config.rateLimit', route: 'GET /s', id: 'GET /s' }, options)
  t.same([limit.keyFn, limit.key], [undefined, undefined])
})
