import t from 'tap'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import SwaggerParser from '@apidevtools/swagger-parser'
import limiter, { MemoryStore } from '../../index.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { build, hit } from '../support/helpers.js'

type Doc = { paths: Record<string, Record<string, any>> }
const ok = async () => ({ ok: true, extra: 'kept' })

/** An app with @fastify/swagger (OpenAPI 3) and the limiter, in the given order. */
async function withSwagger (options: FastifyLimiterOptions = {}, swaggerFirst = true) {
  const app = Fastify()
  const docs = () => app.register(swagger, { openapi: { info: { title: 'test', version: '1.0.0' } } })
  if (swaggerFirst) await docs()
  await app.register(limiter, options)
  if (!swaggerFirst) await docs()
  return app
}

async function documentOf (app: Awaited<ReturnType<typeof withSwagger>>): Promise<Doc> {
  await app.ready()
  const doc = app.swagger() as unknown as Doc
  // the validator dereferences in place: validate a copy
  await SwaggerParser.validate(structuredClone(doc) as never)
  return doc
}

const legacy = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']

t.test('a limited route shows its 429, the headers and the limits; the document is valid OpenAPI', async (t) => {
  const app = await withSwagger({ global: '100/min' })
  app.get('/a', { config: { rateLimit: { ip: ['10/s', '1000/day'], user: '50/min' } } }, ok)
  app.get('/global', ok)
  app.get('/free', { config: { rateLimit: false } }, ok)
  const doc = await documentOf(app)
  const a = doc.paths['/a'].get
  t.equal(a.description, 'Rate limit: 10/s and 1000/day per IP, 50/min per user (sliding-window).')
  t.same(a['x-ratelimit'], {
    scope: 'GET /a',
    algorithm: 'sliding-window',
    cost: 1,
    dryRun: false,
    onStoreError: 'fallback',
    user: [{ rate: '50/min', limit: 50, windowMs: 60_000 }],
    ip: [{ rate: '10/s', limit: 10, windowMs: 1000 }, { rate: '1000/day', limit: 1000, windowMs: 86_400_000 }]
  })
  t.same(Object.keys(a.responses), ['200', '429'])
  t.same(Object.keys(a.responses['200'].headers), legacy)
  t.notOk(a.responses['200'].content, 'a route without response schemas keeps "Default Response" without a body')
  const denied = a.responses['429']
  t.same(Object.keys(denied.headers), [...legacy, 'Retry-After'])
  t.same(denied.headers['Retry-After'].schema, { type: 'integer', minimum: 0 })
  t.match(denied.description, /^Too Many Requests\. Rate limit: 10\/s and 1000\/day per IP/)
  t.same(denied.content['application/json'].schema.required, ['statusCode', 'error', 'message'])
  t.match(doc.paths['/global'].get.description, /100\/min per IP \(sliding-window, the global limit\)/)
  t.equal(doc.paths['/global'].get['x-ratelimit'].scope, 'global')
  t.same(Object.keys(doc.paths['/free'].get.responses), ['200'])
  t.notOk(doc.paths['/free'].get['x-ratelimit'], 'an unlimited route is left alone')
})

t.test('the documented 429 body matches what the default builder sends', async (t) => {
  const app = await withSwagger()
  app.get('/one', { config: { rateLimit: '1/min' } }, ok)
  const doc = await documentOf(app)
  const schema = doc.paths['/one'].get.responses['429'].content['application/json'].schema
  t.same(await hit(app, '/one', 1), [200])
  const res = await app.inject('/one')
  t.equal(res.statusCode, 429)
  const body = res.json()
  t.same(Object.keys(body), Object.keys(schema.properties))
  t.equal(body.statusCode, schema.properties.statusCode.enum[0])
  t.equal(body.error, schema.properties.error.enum[0])
  t.type(body.message, 'string')
})

t.test('responses are serialized as without swagger: no response schema is added to a route', async (t) => {
  const builder = () => ({ statusCode: 429, error: 'Too Many Requests', message: 'slow down', code: 'RATE_LIMITED' })
  const app = await withSwagger({ errorResponseBuilder: builder })
  app.get('/x', { config: { rateLimit: '1/min' } }, async (request) => ({ schema: request.routeOptions.schema ?? null, extra: 'kept' }))
  await documentOf(app)
  const first = await app.inject('/x')
  t.same(first.json(), { schema: null, extra: 'kept' }, 'the route still has no schema of its own')
  t.same((await app.inject('/x')).json(), builder(), 'a custom 429 body is sent whole')
  const plain = await build()
  plain.app.get('/y', { schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } }, config: { rateLimit: '5/min' } }, async (request) => ({ ok: true, keys: Object.keys(request.routeOptions.schema?.response as object) }))
  t.same((await plain.app.inject('/y')).json(), { ok: true }, 'the user\'s own response schema is untouched')
})

t.test('registration order: swagger after the limiter works too, and routes in child contexts are seen', async (t) => {
  const app = await withSwagger({}, false)
  app.get('/root', { config: { rateLimit: '3/min' } }, ok)
  await app.register(async (child) => {
    child.get('/child', { config: { rateLimit: { user: '2/min', key: (r) => r.headers['x-key'] as string, rate: '9/min' } } }, ok)
  }, { prefix: '/v1' })
  const doc = await documentOf(app)
  t.ok(doc.paths['/root'].get.responses['429'])
  t.equal(doc.paths['/v1/child'].get.description, 'Rate limit: 2/min per user, 9/min per key (sliding-window).')
})

t.test('ietf, custom and no headers', async (t) => {
  const ietf = await withSwagger({ headers: 'ietf' })
  ietf.get('/i', { config: { rateLimit: '3/min' } }, ok)
  const i = (await documentOf(ietf)).paths['/i'].get.responses
  t.same(Object.keys(i['200'].headers), ['RateLimit-Policy', 'RateLimit'])
  t.same(Object.keys(i['429'].headers), ['RateLimit-Policy', 'RateLimit', 'Retry-After'])

  const custom = await withSwagger({ headers: { limit: 'x-quota', retryAfter: 'x-wait' } })
  custom.get('/c', { config: { rateLimit: '3/min' } }, ok)
  const c = (await documentOf(custom)).paths['/c'].get.responses
  t.same(Object.keys(c['429'].headers), ['x-quota', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'x-wait'])

  const none = await withSwagger({ headers: false })
  none.get('/n', { config: { rateLimit: '3/min' } }, ok)
  const n = (await documentOf(none)).paths['/n'].get.responses
  t.same(n['200'].headers, undefined, 'swagger drops an empty header map')
  t.ok(n['429'].content, 'the 429 is still documented')
})

t.test('openapi: { errorSchema } describes a custom body; a custom builder without one documents no body shape', async (t) => {
  const errorSchema = { type: 'object', properties: { code: { type: 'string' }, retryInSeconds: { type: 'integer' } }, required: ['code'] }
  const builder = () => ({ code: 'RATE_LIMITED' })
  const given = await withSwagger({ errorResponseBuilder: builder, openapi: { errorSchema } })
  given.get('/g', { config: { rateLimit: '3/min' } }, ok)
  const g = (await documentOf(given)).paths['/g'].get.responses['429']
  t.same(g.content['application/json'].schema.properties, errorSchema.properties)

  const bare = await withSwagger({ errorResponseBuilder: builder })
  bare.get('/b', { config: { rateLimit: '3/min' } }, ok)
  const b = (await documentOf(bare)).paths['/b'].get.responses['429']
  t.same(b.content['application/json'].schema, {}, 'any JSON')

  const defaultBuilder = await withSwagger({ openapi: true })
  defaultBuilder.get('/d', { config: { rateLimit: '3/min' } }, ok)
  t.ok((await documentOf(defaultBuilder)).paths['/d'].get.responses['429'].content['application/json'].schema.properties.statusCode)
})

t.test('openapi: false leaves the document alone', async (t) => {
  const app = await withSwagger({ openapi: false, global: '5/min' })
  app.get('/a', { config: { rateLimit: '3/min' } }, ok)
  app.get('/b', ok)
  const doc = await documentOf(app)
  t.same(Object.keys(doc.paths['/a'].get.responses), ['200'])
  t.notOk(doc.paths['/a'].get['x-ratelimit'])
  t.notOk(doc.paths['/b'].get.description)
})

t.test('dry run, groups, cost, burst, and the route\'s own responses, headers and description', async (t) => {
  const app = await withSwagger()
  app.get('/dry', { config: { rateLimit: { ip: '3/min', dryRun: true } } }, ok)
  app.get('/g', { config: { rateLimit: { ip: '3/min', group: 'reports' } } }, ok)
  app.get('/cost', { config: { rateLimit: { ip: '30/min', cost: (r) => Number((r.query as { n?: string }).n ?? 1) } } }, ok)
  app.post('/heavy', { config: { rateLimit: { ip: '30/min', cost: 10, algorithm: 'token-bucket', burst: 40 } } }, ok)
  app.get('/own', {
    schema: {
      description: 'Lists things.',
      response: {
        200: { type: 'object', properties: { ok: { type: 'boolean' } }, headers: { 'X-RateLimit-Limit': { type: 'integer', description: 'mine' } } },
        429: { description: 'Slow down', type: 'object', properties: { wait: { type: 'integer' } } },
        '5xx': { description: 'Broken', type: 'object', properties: { error: { type: 'string' } } }
      }
    },
    config: { rateLimit: '3/min' }
  }, ok)
  const doc = await documentOf(app)
  const dry = doc.paths['/dry'].get
  t.equal(dry.description, 'Rate limit: 3/min per IP (sliding-window, dry run: counted, never enforced).')
  t.same(Object.keys(dry.responses), ['200'], 'a dry-run route never answers 429')
  t.equal(dry['x-ratelimit'].dryRun, true)
  t.match(doc.paths['/g'].get.description, /shared by group 'reports'/)
  t.equal(doc.paths['/g'].get['x-ratelimit'].scope, 'reports')
  t.match(doc.paths['/cost'].get.description, /cost varies per request/)
  t.equal(doc.paths['/cost'].get['x-ratelimit'].cost, 'per request')
  t.match(doc.paths['/heavy'].post.description, /\(token-bucket, each request costs 10\)/)
  t.same(doc.paths['/heavy'].post['x-ratelimit'].ip, [{ rate: '30/min', limit: 30, windowMs: 60_000, burst: 40 }])
  const own = doc.paths['/own'].get
  t.equal(own.description, 'Lists things.\n\nRate limit: 3/min per IP (sliding-window).')
  t.equal(own.responses['200'].headers['X-RateLimit-Limit'].description, 'mine', 'the route\'s own header wins')
  t.ok(own.responses['200'].headers['X-RateLimit-Remaining'])
  t.equal(own.responses['429'].description, 'Slow down', 'the route\'s own 429 is kept')
  t.ok(own.responses['429'].headers['Retry-After'], 'and gets the headers')
  t.ok(own.responses['5XX'].headers['X-RateLimit-Reset'], 'every response of a limited route carries the headers')
})

t.test('onStoreError: \'deny\' documents the 503 the route then sends', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  store.consume = () => { throw new Error('down') }
  const app = await withSwagger({ store, onStoreError: 'deny' })
  app.get('/d', { config: { rateLimit: '3/min' } }, ok)
  app.get('/f', { config: { rateLimit: { ip: '3/min', onStoreError: 'fallback' } } }, ok)
  const doc = await documentOf(app)
  const unavailable = doc.paths['/d'].get.responses['503']
  t.same(Object.keys(unavailable.headers), ['Retry-After'], 'nothing was decided: no rate-limit headers')
  t.equal(doc.paths['/d'].get['x-ratelimit'].onStoreError, 'deny')
  t.notOk(doc.paths['/f'].get.responses['503'])
  const res = await app.inject('/d')
  t.equal(res.statusCode, 503)
  const schema = unavailable.content['application/json'].schema
  t.same(Object.keys(res.json()).sort(), [...schema.required].sort())
  t.equal(res.json().error, schema.properties.error.enum[0])
  t.ok(res.headers['retry-after'])
})

t.test('a Swagger 2.0 document gets the same, and is valid', async (t) => {
  const app = Fastify()
  await app.register(swagger, { swagger: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(limiter, { headers: 'ietf' })
  app.get('/a', { config: { rateLimit: { ip: '5/min', onStoreError: 'deny' } } }, ok)
  const doc = await documentOf(app)
  const responses = doc.paths['/a'].get.responses
  t.same(Object.keys(responses), ['200', '429', '503'])
  t.same(Object.keys(responses['429'].headers), ['RateLimit-Policy', 'RateLimit', 'Retry-After'])
  t.match(responses['429'].description, /^Too Many Requests\. Rate limit: 5\/min per IP/)
  t.same(responses['429'].schema.required, ['statusCode', 'error', 'message'])
})

t.test('routes without @fastify/swagger keep their schema object as given', async (t) => {
  const schema = { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } }
  const { app } = await build()
  let seen: unknown
  app.addHook('onRoute', (route) => { if (route.url === '/s') seen = route })
  app.get('/s', { schema, config: { rateLimit: '3/min' } }, ok)
  await app.ready()
  t.equal((seen as { schema: unknown }).schema, schema)
  t.notOk('x-ratelimit' in schema)
})

t.test('bad openapi options fail at registration', async (t) => {
  for (const openapi of ['yes', { errorSchema: 'x' }, { schema: {} }]) {
    const err = await build({ openapi } as never).then(() => undefined, (e) => e)
    t.equal(err?.code, 'FST_LIMITER_INVALID_OPTION', JSON.stringify(openapi))
    t.match(err?.message, /fastify-limiter option openapi/)
  }
})
