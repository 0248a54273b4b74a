import t from 'tap'
import Fastify from 'fastify'
import type { FastifyRequest } from 'fastify'
import { build, captureLog } from '../support/helpers.js'
import limiter from '../../index.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { credentialsWarning } from '../../lib/request/warnings.js'

const ok = async () => ({ ok: true })

const warnings = (lines: Array<Record<string, any>>) => lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('carry credentials'))

/** Signs a request in from `x-user` in the given hook, as an auth plugin would. */
function auth (hook: 'onRequest' | 'preHandler') {
  return {
    [hook]: async (request: FastifyRequest) => {
      const id = request.headers['x-user']
      if (typeof id === 'string') (request as FastifyRequest & { user: { id: string } }).user = { id }
    }
  }
}

async function setup (options: FastifyLimiterOptions = {}) {
  const { lines, logger } = captureLog('warn')
  const built = await build(options, { logger })
  return { ...built, lines }
}

t.test('credentials and no user in the chosen hook: one warning per route at warn, naming preHandler', async (t) => {
  const { app, lines } = await setup()
  // authentication runs in preHandler, after the limiter's onRequest hook
  app.get('/a', { config: { rateLimit: { ip: '100/min', user: '1000/min' } }, ...auth('preHandler') }, ok)
  app.get('/b', { config: { rateLimit: { ip: '100/min', user: '1000/min' } }, ...auth('preHandler') }, ok)
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ url: '/a', headers: { authorization: 'Bearer x', 'x-user': 'u1' } })
    t.equal(res.json().ok, true)
  }
  await app.inject({ url: '/a', headers: { cookie: 'session=1', 'x-user': 'u1' } })
  await app.inject({ url: '/b', headers: { cookie: 'session=1', 'x-user': 'u1' } })
  const found = warnings(lines)
  t.equal(found.length, 2, 'once for /a, once for /b')
  t.equal(found[0].level, 40, 'warn')
  t.equal(found[0].msg, credentialsWarning('onRequest'))
  t.match(found[0].msg, /hook: 'preHandler'/)
  t.same(found[0].rateLimit, { route: 'GET /a', hook: 'onRequest', served: 'GET /a' })
  t.same(found[1].rateLimit, { route: 'GET /b', hook: 'onRequest', served: 'GET /b' })
  t.ok(found[0].reqId, 'logged through request.log')
  await app.close()
})

t.test('no warning: no credentials, a user found, no user limit, or a key bucket that decided first', async (t) => {
  const { app, lines } = await setup()
  app.get('/anon', { config: { rateLimit: { ip: '100/min', user: '1000/min' } } }, ok)
  app.get('/signed', { config: { rateLimit: { ip: '100/min', user: '1000/min' } }, ...auth('onRequest') }, ok)
  app.get('/ip', { config: { rateLimit: { ip: '100/min' } } }, ok)
  app.get('/keyed', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string | undefined, rate: '10/min', user: '1000/min' } } }, ok)
  await app.inject('/anon')
  const signed = await app.inject({ url: '/signed', headers: { authorization: 'Bearer x', 'x-user': 'u1' } })
  t.equal(signed.headers['x-ratelimit-limit'], '1000', 'the user bucket decided')
  await app.inject({ url: '/ip', headers: { authorization: 'Bearer x' } })
  await app.inject({ url: '/keyed', headers: { authorization: 'Bearer x', 'x-key': 'k' } })
  t.same(warnings(lines), [])
  await app.close()
})

t.test('with the limiter in preHandler the advice is to authenticate before it; apply all and 404s warn too', async (t) => {
  const { app, lines } = await setup({ hook: 'preHandler' })
  app.get('/all', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string | undefined, rate: '10/min', user: '1000/min', apply: 'all' } } }, ok)
  app.get('/user-only', { config: { rateLimit: { user: '1000/min' } } }, ok)
  app.setNotFoundHandler({ preHandler: app.rateLimit.hook({ user: '10/min', ip: '5/min' }) }, async (request, reply) => reply.code(404).send())
  await app.inject({ url: '/all', headers: { authorization: 'Bearer x', 'x-key': 'k' } })
  const unlimited = await app.inject({ url: '/user-only', headers: { cookie: 'a=b' } })
  t.equal(unlimited.statusCode, 200, 'no user and no ip rate: not limited, which is what the warning is about')
  await app.inject({ url: '/nope', headers: { cookie: 'a=b' } })
  const found = warnings(lines)
  t.same(found.map((l) => l.rateLimit.route), ['GET /all', 'GET /user-only', '(not found)'])
  t.equal(found[0].msg, credentialsWarning('preHandler'))
  t.match(found[0].msg, /before the preHandler hook/)
  await app.close()
})

t.test('a global limit with a user rate warns once for each route it serves', async (t) => {
  const { app, lines } = await setup({ global: { ip: '100/min', user: '1000/min' } })
  app.get('/x', ok)
  app.get('/y', ok)
  for (const url of ['/x', '/y', '/x', '/y']) await app.inject({ url, headers: { authorization: 'Basic eDp5' } })
  t.same(warnings(lines).map((l) => l.rateLimit), [
    { route: 'global', hook: 'onRequest', served: 'GET /x' },
    { route: 'global', hook: 'onRequest', served: 'GET /y' }
  ])
  await app.close()
})

t.test('a route declared before the plugin is registered is not limited: request.rateLimit is undefined', async (t) => {
  const app = Fastify()
  const seen = async (request: FastifyRequest) => ({ limited: request.rateLimit !== undefined })
  app.get('/early', seen)
  await app.register(limiter, { global: '1/min' })
  app.get('/late', seen)
  t.same((await app.inject('/early')).json(), { limited: false })
  t.same((await app.inject('/early')).json(), { limited: false }, 'and never a 429')
  t.same((await app.inject('/late')).json(), { limited: true })
  t.equal((await app.inject('/late')).statusCode, 429)
  await app.close()
})
