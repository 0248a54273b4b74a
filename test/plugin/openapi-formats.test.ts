import t from 'tap'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import SwaggerParser from '@apidevtools/swagger-parser'
import limiter from '../../index.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { hit } from '../support/helpers.js'

type Doc = { paths: Record<string, Record<string, any>> }
const ok = async () => ({ ok: true })

async function documented (options: FastifyLimiterOptions, routes: (app: ReturnType<typeof Fastify>) => void, mode: 'openapi' | 'swagger' = 'openapi') {
  const app = Fastify()
  await app.register(swagger, { [mode]: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(limiter, options)
  routes(app)
  await app.ready()
  const doc = app.swagger() as unknown as Doc
  await SwaggerParser.validate(structuredClone(doc) as never)
  return { app, doc }
}

t.test("errorFormat 'problem' documents an application/problem+json 429 that matches what is sent", async (t) => {
  const { app, doc } = await documented({ errorFormat: 'problem' }, (app) => {
    app.get('/p', { config: { rateLimit: '1/min' } }, ok)
    app.get('/plain', { config: { rateLimit: { ip: '1/min', errorFormat: 'plain' } } }, ok)
  })
  const denied = doc.paths['/p'].get.responses['429']
  t.same(Object.keys(denied.content), ['application/problem+json'])
  t.match(denied.description, /^Too Many Requests\. Rate limit: 1\/min per IP/)
  t.same(Object.keys(denied.headers), ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After'])
  const schema = denied.content['application/problem+json'].schema
  await hit(app, '/p', 1)
  const res = await app.inject('/p')
  const body = res.json()
  t.same(Object.keys(body), Object.keys(schema.properties))
  t.same(schema.required, Object.keys(body))
  t.equal(body.type, schema.properties.type.enum[0])
  t.equal(body.status, schema.properties.status.enum[0])
  t.same(Object.keys(doc.paths['/plain'].get.responses['429'].content), ['application/json'], 'a route back on plain documents JSON')
})

t.test('a custom builder with problem documents the media type without a body shape, or the given errorSchema', async (t) => {
  const builder = () => ({ type: 'about:blank', status: 429 })
  const { doc } = await documented({ errorFormat: 'problem', errorResponseBuilder: builder }, (app) => {
    app.get('/c', { config: { rateLimit: '1/min' } }, ok)
  })
  t.same(doc.paths['/c'].get.responses['429'].content['application/problem+json'].schema, {})
  const errorSchema = { type: 'object', properties: { type: { type: 'string' } } }
  const given = await documented({ errorFormat: 'problem', errorResponseBuilder: builder, openapi: { errorSchema } }, (app) => {
    app.get('/c', { config: { rateLimit: '1/min' } }, ok)
  })
  t.same(given.doc.paths['/c'].get.responses['429'].content['application/problem+json'].schema, errorSchema)
})

t.test('each header format is described, per route', async (t) => {
  const { doc } = await documented({ headers: 'draft-6' }, (app) => {
    app.get('/d6', { config: { rateLimit: '3/min' } }, ok)
    app.get('/d7', { config: { rateLimit: { ip: '3/min', headers: 'draft-7' } } }, ok)
    app.get('/d8', { config: { rateLimit: { ip: '3/min', headers: 'draft-8' } } }, ok)
    app.get('/ietf', { config: { rateLimit: { ip: '3/min', headers: 'ietf' } } }, ok)
    app.get('/d10', { config: { rateLimit: { ip: '3/min', headers: 'draft-10' } } }, ok)
    app.get('/none', { config: { rateLimit: { ip: '3/min', headers: false } } }, ok)
  })
  const names = (path: string, code: string) => Object.keys(doc.paths[path].get.responses[code].headers ?? {})
  t.same(names('/d6', '200'), ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'])
  t.same(names('/d6', '429'), ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After'])
  t.same(names('/d7', '200'), ['RateLimit-Policy', 'RateLimit'])
  t.match(doc.paths['/d7'].get.responses['200'].headers.RateLimit.description, /limit=10, remaining=9, reset=60/)
  t.same(names('/d8', '429'), ['RateLimit-Policy', 'RateLimit', 'Retry-After'])
  t.match(doc.paths['/d8'].get.responses['200'].headers['RateLimit-Policy'].description, /pk=/)
  t.match(doc.paths['/ietf'].get.responses['200'].headers.RateLimit.description, /"ip-10\/min";r=9;t=60/)
  t.same(doc.paths['/d10'].get.responses['429'].headers, doc.paths['/ietf'].get.responses['429'].headers, 'ietf is draft-10')
  t.match(doc.paths['/d10'].get.responses['200'].headers['RateLimit-Policy'].description, /draft-ietf-httpapi-ratelimit-headers-10/)
  t.same(names('/none', '200'), [])
})

t.test('a Swagger 2.0 document with problem details stays valid', async (t) => {
  const { doc } = await documented({ errorFormat: 'problem' }, (app) => {
    app.get('/p', { config: { rateLimit: '1/min' } }, ok)
  }, 'swagger')
  const denied = doc.paths['/p'].get.responses['429']
  t.ok(denied.schema.required.includes('violated-policies'), 'the problem body, without a media type: Swagger 2.0 has none per response')
  t.notOk(denied.content)
})

t.test('a swagger decorator under another name: the problem body is documented without a media type, still valid', async (t) => {
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1.0.0' } }, decorator: 'openapiDocument' })
  await app.register(limiter, { errorFormat: 'problem' })
  app.get('/p', { config: { rateLimit: '1/min' } }, ok)
  await app.ready()
  const doc = (app as unknown as { openapiDocument: () => Doc }).openapiDocument()
  await SwaggerParser.validate(structuredClone(doc) as never)
  const denied = doc.paths['/p'].get.responses['429']
  t.ok(denied.content['application/json'].schema.required.includes('violated-policies'))
})
