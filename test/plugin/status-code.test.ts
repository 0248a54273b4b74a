import t from 'tap'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import SwaggerParser from '@apidevtools/swagger-parser'
import limiter from '../../index.js'
import type { LimitContext } from '../../index.js'
import { build, gate, until } from '../support/helpers.js'

// `statusCode` (issue 20, item 4): the status of a denial, 429 unless set, on the plugin and on
// routes; a ban keeps its own `ban.statusCode`. (@fastify/rate-limit takes the status from the
// error its errorResponseBuilder returns; here the body is only a body, and the status an option.)

const ok = async () => ({ ok: true })

t.test('a denial answers with statusCode; the default body, context.statusCode and the headers follow', async (t) => {
  const contexts: LimitContext[] = []
  const { app } = await build({ statusCode: 503, onExceeded: (request, context) => { contexts.push(context) } })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  await app.inject('/r')
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 503)
  t.same(denied.json(), { statusCode: 503, error: 'Service Unavailable', message: `Rate limit exceeded, retry in ${contexts[0].after}` })
  t.ok(denied.headers['retry-after'])
  t.equal(denied.headers['x-ratelimit-remaining'], '0')
  t.equal(contexts[0].statusCode, 503)
})

t.test("a route's statusCode overrides the plugin's; a status without a reason phrase says 'Error'", async (t) => {
  const { app } = await build({ statusCode: 503 })
  app.get('/teapot', { config: { rateLimit: { ip: '1/min', statusCode: 418 } } }, ok)
  app.get('/odd', { config: { rateLimit: { ip: '1/min', statusCode: 499 } } }, ok)
  await app.inject('/teapot')
  const teapot = await app.inject('/teapot')
  t.equal(teapot.statusCode, 418)
  t.equal(teapot.json().error, "I'm a Teapot")
  await app.inject('/odd')
  t.match((await app.inject('/odd')).json(), { statusCode: 499, error: 'Error' })
})

t.test('problem details and a builder of your own get it too', async (t) => {
  const { app } = await build({ statusCode: 420, errorFormat: 'problem' })
  app.get('/p', { config: { rateLimit: '1/min' } }, ok)
  await app.inject('/p')
  const problem = await app.inject('/p')
  t.equal(problem.statusCode, 420)
  t.match(problem.json(), { status: 420, type: 'https://iana.org/assignments/http-problem-types#quota-exceeded' })
  const own = await build({ statusCode: 503, errorResponseBuilder: (request, context) => ({ code: 'SLOW_DOWN', status: context.statusCode }) })
  own.app.get('/o', { config: { rateLimit: '1/min' } }, ok)
  await own.app.inject('/o')
  const res = await own.app.inject('/o')
  t.same([res.statusCode, res.json()], [503, { code: 'SLOW_DOWN', status: 503 }])
})

t.test("a ban keeps its own status; a concurrency limit's denial takes statusCode; a dry run only reports it", async (t) => {
  const contexts: LimitContext[] = []
  const { app } = await build({ statusCode: 503, onExceeded: (request, context) => { contexts.push(context) } })
  app.get('/ban', { config: { rateLimit: { ip: '1/min', ban: { after: 2, for: '1h' } } } }, ok)
  app.get('/dry', { config: { rateLimit: { ip: '1/min', dryRun: true } } }, ok)
  const held = gate()
  app.get('/slots', { config: { rateLimit: { concurrency: { ip: 1 } } } }, held.handler)
  t.same([(await app.inject('/ban')).statusCode, (await app.inject('/ban')).statusCode, (await app.inject('/ban')).statusCode], [200, 503, 403])
  await app.inject('/dry')
  t.equal((await app.inject('/dry')).statusCode, 200)
  t.match(contexts.at(-1), { dryRun: true, statusCode: 503 }, 'what would have been sent')
  const first = app.inject('/slots')
  await until(() => held.entered === 1)
  const full = await app.inject('/slots')
  t.same([full.statusCode, full.json().statusCode, full.headers['retry-after']], [503, 503, '1'])
  held.open()
  await first
})

t.test('OpenAPI documents the denial under its status, with the default body saying it', async (t) => {
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(limiter, { statusCode: 503 })
  app.get('/r', { config: { rateLimit: '10/min' } }, ok)
  app.get('/p', { config: { rateLimit: { ip: '10/min', statusCode: 420, errorFormat: 'problem' } } }, ok)
  await app.ready()
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, any>> }
  await SwaggerParser.validate(structuredClone(doc) as never)
  const r = doc.paths['/r'].get.responses
  t.same(Object.keys(r), ['200', '503'])
  t.match(r['503'], {
    description: 'Service Unavailable: too many requests. Rate limit: 10/min per IP (sliding-window).',
    content: { 'application/json': { schema: { properties: { statusCode: { enum: [503] }, error: { enum: ['Service Unavailable'] } } } } },
    headers: { 'Retry-After': {} }
  })
  const p = doc.paths['/p'].get.responses
  t.match(p['420'].content['application/problem+json'].schema.properties, { status: { enum: [420] }, title: { enum: ['Quota Exceeded'] } })
  t.match(p['420'].description, /^Denied: too many requests\./, 'a status without a reason phrase')
  await app.close()
})
