// @fastify/rate-limit's own test cases that had no equivalent test here yet, written against this
// plugin. Each test names the case it ports (file: case); docs/migration.md's appendix maps every
// case of that suite to a test here, or says why it must not have one.
import t from 'tap'
import { build, hit, thrown } from '../support/helpers.js'

const ok = async () => 'hello'

t.test('issue-215.test.js: after its window, a client is allowed again; another client never shared its count', async (t) => {
  const { app, clock } = await build()
  app.get('/', { config: { rateLimit: { ip: '1/s', algorithm: 'fixed-window' } } }, ok)
  const first = { url: '/', remoteAddress: '192.0.2.1' }
  const second = { url: '/', remoteAddress: '192.0.2.2' }
  t.same([(await app.inject(first)).statusCode, (await app.inject(first)).statusCode], [200, 429])
  clock.advance(1000)
  t.equal((await app.inject(second)).statusCode, 200, 'the second client, after the first one\'s window')
  t.equal((await app.inject(first)).statusCode, 200, 'the first client, in a new window')
  t.equal((await app.inject(second)).statusCode, 429)
})

t.test("issue-284.test.js: a 429 is answered in the hook, never through the app's error handler", async (t) => {
  // there, a denial is an error thrown to setErrorHandler (which may redirect it); here it is a
  // reply the hook sends: the error handler never sees it, errorResponseBuilder shapes it
  const { app } = await build({ errorResponseBuilder: (request, context) => ({ statusCode: 429, message: `retry in ${context.after}` }) })
  let handled = 0
  app.setErrorHandler(async (err: Error, request, reply) => {
    handled++
    return reply.redirect(`/?error=${err.message}`)
  })
  app.get('/', { config: { rateLimit: '1/min' } }, ok)
  t.equal((await app.inject('/')).statusCode, 200)
  const denied = await app.inject('/')
  t.equal(denied.statusCode, 429)
  t.same(denied.json(), { statusCode: 429, message: 'retry in 100 seconds' })
  t.equal(handled, 0, 'the error handler was not called')
})

t.test('global-rate-limit.test.js: does not override the onRequest as an array', async (t) => {
  const { app } = await build({ global: '1/min' })
  const ran: string[] = []
  app.get('/', {
    onRequest: [async () => { ran.push('first') }, async () => { ran.push('second') }]
  }, ok)
  t.same(await hit(app, '/', 2), [200, 429])
  t.same(ran, ['first', 'second', 'first', 'second'], "the route's own hooks run, before the limit")
})

t.test('global-rate-limit.test.js: afterReset and Rate Limit remain the same when enableDraftSpec is enabled', async (t) => {
  const { app, clock } = await build({ global: '1/s', headers: 'draft-6', algorithm: 'fixed-window' })
  app.get('/', ok)
  clock.advance(-(clock.now % 1000)) // at the start of a second
  const first = await app.inject('/')
  const denied = await app.inject('/')
  t.same([first.statusCode, denied.statusCode], [200, 429])
  t.equal(denied.headers['ratelimit-reset'], '1')
  clock.advance(1000)
  const again = await app.inject('/')
  t.equal(again.statusCode, 200)
  for (const name of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']) {
    t.equal(again.headers[name], first.headers[name], `${name} after the reset is what it was at first`)
  }
})

t.test('global-rate-limit.test.js: ban directly', async (t) => {
  // there `ban: 0` answers 403 from the first request over the limit; here `after: 1`
  const { app } = await build({ global: '1/min', ban: { after: 1, for: '1min' } })
  app.get('/', ok)
  const codes = await hit(app, '/', 3)
  t.same(codes, [200, 403, 403])
  t.equal((await app.inject('/')).headers['retry-after'], '60')
})

t.test('route-rate-limit.test.js: works with existing route config', async (t) => {
  const { app } = await build()
  app.get('/', { config: { rateLimit: '2/min', owner: 'reports' } as never }, async (request) => (request.routeOptions.config as { owner: string }).owner)
  const res = await app.inject('/')
  t.equal(res.body, 'reports', 'the route keeps its other config')
  t.equal(res.headers['x-ratelimit-remaining'], '1')
})

t.test('group-rate-limit.test.js: Invalid groupId type', async (t) => {
  const { app } = await build()
  const err = thrown(() => app.get('/', { config: { rateLimit: { ip: '2/min', group: 123 as never } } }, ok))
  t.equal(err?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG')
  t.match(err?.message, /config\.rateLimit\.group/)
})

t.test('route-rate-limit.test.js: on undefined hook should use onRequest-hook', async (t) => {
  const { app } = await build({ hook: undefined })
  let validated = 0
  app.get('/', { config: { rateLimit: '1/min' }, preValidation: async () => { validated++ } }, ok)
  t.same(await hit(app, '/', 2), [200, 429])
  t.equal(validated, 1, 'the denied request stopped in onRequest, before preValidation')
})
