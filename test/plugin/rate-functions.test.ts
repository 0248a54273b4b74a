// Issue 12, point 2: route `ip`, `user` and `rate` (and those of `global` and `hook()`) may be
// functions of the request returning rate(s) or undefined, sync or async.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { build, hit } from '../support/helpers.js'
import { resolveOptions } from '../../lib/config/options.js'
import { RATE_CACHE_SIZE, compileLimit } from '../../lib/config/compile.js'
import { limitExtension, limitLine } from '../../lib/observe/openapi.js'

const ok = async (request: FastifyRequest) => request.rateLimit
const header = (r: FastifyRequest, name: string) => r.headers[name] as string | undefined
const modes = {
  sync: <T>(fn: (r: FastifyRequest) => T) => fn,
  async: <T>(fn: (r: FastifyRequest) => T) => async (r: FastifyRequest) => await Promise.resolve(fn(r))
}

for (const [mode, wrap] of Object.entries(modes)) {
  t.test(`${mode}: a user rate per plan; undefined falls back to the IP`, async (t) => {
    const { app } = await build({ user: (r) => header(r, 'x-user') })
    const plan = (r: FastifyRequest) => header(r, 'x-plan')
    app.get('/data', {
      config: { rateLimit: { ip: '1/min', user: wrap((r) => plan(r) === 'pro' ? '3/min' : plan(r) === 'free' ? '2/min' : undefined) } }
    }, ok)
    const as = (user: string, plan?: string) => ({ 'x-user': user, ...(plan === undefined ? {} : { 'x-plan': plan }) })
    t.same(await hit(app, '/data', 4, as('p', 'pro')), [200, 200, 200, 429])
    t.same(await hit(app, '/data', 3, as('f', 'free')), [200, 200, 429])
    const res = await app.inject({ url: '/data', headers: as('f2', 'free') })
    t.equal(res.headers['x-ratelimit-limit'], '2', 'the returned rate is the limit')
    t.equal(res.json().rate, '2/min')
    t.equal(res.json().bucket, 'user')
    const fallback = await app.inject({ url: '/data', headers: as('n') })
    t.equal(fallback.json().bucket, 'ip', 'undefined: the user kind does not limit this request')
    t.same(await hit(app, '/data', 1, as('n')), [429])
    // a user moving to another plan starts a bucket of its own: different rates never share one
    t.same(await hit(app, '/data', 3, as('f', 'pro')), [200, 200, 200])
  })

  t.test(`${mode}: ip and key rates, objects and arrays`, async (t) => {
    const { app } = await build()
    app.get('/ip', { config: { rateLimit: { ip: wrap((r) => header(r, 'x-big') === '1' ? ['3/min', { limit: 5, windowMs: 3_600_000 }] : { limit: 1, windowMs: 60_000 }) } } }, ok)
    app.get('/key', { config: { rateLimit: { key: (r) => header(r, 'x-key'), rate: wrap((r) => header(r, 'x-key') === 'gold' ? '2/min' : undefined), ip: '1/min' } } }, ok)
    t.same(await hit(app, '/ip', 2), [200, 429])
    t.same(await hit(app, '/ip', 4, { 'x-big': '1' }), [200, 200, 200, 429])
    t.same(await hit(app, '/key', 3, { 'x-key': 'gold' }), [200, 200, 429])
    const silver = await app.inject({ url: '/key', headers: { 'x-key': 'silver' } })
    t.equal(silver.json().bucket, 'ip', 'no rate for this key: the next kind applies')
  })

  t.test(`${mode}: apply 'all' with rate functions; undefined for every kind is no limit`, async (t) => {
    const { app } = await build({ user: (r) => header(r, 'x-user') })
    app.get('/all', {
      config: { rateLimit: { user: wrap((r) => header(r, 'x-off') === '1' ? undefined : '2/min'), ip: wrap((r) => header(r, 'x-off') === '1' ? undefined : '3/min'), apply: 'all' } }
    }, async (request) => ({ limited: request.rateLimit !== undefined }))
    t.same(await hit(app, '/all', 2, { 'x-user': 'a' }), [200, 200])
    t.same(await hit(app, '/all', 1, { 'x-user': 'a' }), [429], 'the user bucket')
    t.same(await hit(app, '/all', 2, { 'x-user': 'b' }), [200, 429], 'the IP bucket (3/min) caps user b')
    t.same((await app.inject({ url: '/all', headers: { 'x-off': '1' } })).json(), { limited: false })
  })

  t.test(`${mode}: invalid returns are coded 500s naming the route; throws and rejections too`, async (t) => {
    const values: unknown[] = [5, [], null, '10/minn', { limit: 0, windowMs: 1000 }, ['1/min', '1/min'], true]
    let current: unknown
    const { app } = await build()
    app.get('/bad', { config: { rateLimit: { ip: wrap(() => current as string) } } }, ok)
    for (const value of values) {
      current = value
      const res = await app.inject('/bad')
      t.equal(res.statusCode, 500, String(value))
      t.equal(res.json().code, 'FST_LIMITER_INVALID_RATE_RESULT')
      t.match(res.json().message, /^Route GET \/bad: the ip rate function returned /)
    }
    const circular: Record<string, unknown> = {}
    circular.self = circular
    current = circular
    t.match((await app.inject('/bad')).json().message, /returned \[object Object\].*not a plain value/)
    current = '1/min'
    t.same(await hit(app, '/bad', 2), [200, 429], 'a bad value was not cached, nor charged')
    const failed = await build({ user: () => 'u' })
    failed.app.get('/throws', { config: { rateLimit: { user: wrap((): string => { throw new Error('plans down') }), key: () => 'k', rate: wrap((): string => { throw new Error('no') }), apply: 'all' } } }, ok)
    failed.app.get('/ip', { config: { rateLimit: { ip: wrap((): string => { throw new Error('ip down') }) } } }, ok)
    failed.app.get('/user', { config: { rateLimit: { user: wrap((): string => { throw new Error('plans down') }) } } }, ok)
    const res = await failed.app.inject('/throws')
    t.equal(res.json().code, 'FST_LIMITER_RESOLVER_FAILED')
    t.match(res.json().message, 'Route GET /throws: the key rate function threw (its error is the cause)')
    t.match((await failed.app.inject('/ip')).json().message, 'the ip rate function threw (its error is the cause)')
    t.match((await failed.app.inject('/user')).json().message, 'the user rate function threw (its error is the cause)')
  })

  t.test(`${mode}: a returned rate must allow the route's cost; a cost function is checked against it`, async (t) => {
    const { app } = await build()
    let cost = 1
    app.get('/fixed', { config: { rateLimit: { ip: wrap(() => '2/min'), cost: 3 } } }, ok)
    app.get('/fn', { config: { rateLimit: { ip: wrap(() => '4/min'), cost: () => cost } } }, ok)
    const fixed = await app.inject('/fixed')
    t.equal(fixed.json().code, 'FST_LIMITER_INVALID_RATE_RESULT')
    t.match(fixed.json().message, 'cost 3 exceeds its capacity (2)')
    cost = 5
    const fn = await app.inject('/fn')
    t.equal(fn.json().code, 'FST_LIMITER_INVALID_COST')
    t.match(fn.json().message, 'expected an integer from 1 to 4')
    cost = 3 // the uncountable request was charged 1
    t.same(await hit(app, '/fn', 2), [200, 429])
  })
}

t.test('global and hook() limits take rate functions', async (t) => {
  const { app } = await build({ global: { ip: async (r) => header(r, 'x-vip') === '1' ? '3/min' : '1/min' } })
  app.get('/g', ok)
  app.get('/h', { config: { rateLimit: false }, onRequest: app.rateLimit.hook({ ip: (r) => header(r, 'x-vip') === '1' ? '2/min' : undefined }) }, ok)
  t.same(await hit(app, '/g', 2), [200, 429])
  t.same(await hit(app, '/g', 4, { 'x-vip': '1' }), [200, 200, 200, 429])
  t.same(await hit(app, '/h', 3), [200, 200, 200], 'undefined: not limited')
  t.same(await hit(app, '/h', 3, { 'x-vip': '1' }), [200, 200, 429])
})

t.test('reset by selector forgets the buckets of every rate a function returned lately', async (t) => {
  const { app } = await build({ user: (r) => header(r, 'x-user') })
  app.get('/r', { config: { rateLimit: { user: (r) => header(r, 'x-plan') === 'pro' ? '2/min' : '1/min' } } }, ok)
  await hit(app, '/r', 2, { 'x-user': 'u', 'x-plan': 'pro' })
  await hit(app, '/r', 1, { 'x-user': 'u' })
  t.same(await hit(app, '/r', 1, { 'x-user': 'u', 'x-plan': 'pro' }), [429])
  t.same(await hit(app, '/r', 1, { 'x-user': 'u' }), [429])
  await app.rateLimit.reset({ user: 'u' })
  t.same(await hit(app, '/r', 1, { 'x-user': 'u', 'x-plan': 'pro' }), [200])
  t.same(await hit(app, '/r', 1, { 'x-user': 'u' }), [200])
})

t.test('reset(request) where the limiter did not run works out the returned rate', async (t) => {
  const { app } = await build({ hook: 'preHandler' })
  app.get('/r', { config: { rateLimit: { ip: async () => '1/min' } } }, ok)
  app.addHook('onRequest', async (request) => {
    if (request.headers['x-reset'] === '1') await app.rateLimit.reset(request)
  })
  t.same(await hit(app, '/r', 2), [200, 429])
  t.same(await hit(app, '/r', 1, { 'x-reset': '1' }), [200])
  // nothing to forget: an anonymous request on a user-only route, a user whose rate is undefined
  const { app: users } = await build({ hook: 'preHandler', user: (r) => header(r, 'x-user') })
  users.get('/u', { config: { rateLimit: { user: (r) => header(r, 'x-plan') } } }, ok)
  users.addHook('onRequest', async (request) => { await users.rateLimit.reset(request) })
  t.same(await hit(users, '/u', 1), [200])
  t.same(await hit(users, '/u', 1, { 'x-user': 'u' }), [200])
})

t.test('each distinct rate is compiled once, in a bounded cache', async (t) => {
  const options = resolveOptions({})
  const limit = compileLimit({ limit: { ip: () => '1/min' }, where: 'Route GET /c', path: 'config.rateLimit', route: 'GET /c', id: 'GET%20/c' }, options)
  const dynamic = limit.ip?.dynamic
  if (dynamic === undefined) throw new Error('expected a rate function')
  const first = dynamic.compile('10/min')
  t.equal(dynamic.compile('10/min'), first, 'compiled once')
  t.not(dynamic.compile(['10/min']), first, 'a string and an array apart')
  t.equal(dynamic.compile(undefined), undefined)
  t.equal(first?.rates[0].text, '10/min')
  t.equal(first?.head, limit.ip?.head, 'the same identity head: only the rate tail differs')
  for (let i = 1; i <= RATE_CACHE_SIZE + 50; i++) dynamic.compile(`${i}/hour`)
  t.equal([...dynamic.known()].length, RATE_CACHE_SIZE, 'bounded')
  t.notOk([...dynamic.known()].some((k) => k.rates[0].text === '1/hour'), 'the least recently used went first')
  t.ok([...dynamic.known()].some((k) => k.rates[0].text === `${RATE_CACHE_SIZE + 50}/hour`))
  dynamic.compile('60/hour') // used again: kept past the next insertion
  dynamic.compile('10/s')
  t.ok([...dynamic.known()].some((k) => k.rates[0].text === '60/hour'))
})

t.test('the OpenAPI line and extension of a limit with rate functions', async (t) => {
  const options = resolveOptions({})
  const limit = compileLimit({ limit: { ip: '10/min', user: () => '1/min' }, where: 'Route GET /c', path: 'config.rateLimit', route: 'GET /c', id: 'GET%20/c' }, options)
  t.equal(limitLine(limit), 'Rate limit: 10/min per IP, a rate decided per request per user (sliding-window).')
  t.equal(limitExtension(limit).user, 'per request')
})

t.test('a rate that is neither a rate nor a function is a registration error', async (t) => {
  const { app } = await build()
  t.throws(() => app.get('/x', { config: { rateLimit: { ip: 5 as never } } }, ok), {
    code: 'FST_LIMITER_INVALID_ROUTE_CONFIG',
    message: /config\.rateLimit\.ip: expected .* or a function \(request\) => rate \| rate\[\] \| undefined, received 5/
  })
})
