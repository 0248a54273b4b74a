import t from 'tap'
import { parseItem, parseList } from 'structured-headers'
import swagger from '@fastify/swagger'
import { build, hit, requiredOnlyStore } from '../support/helpers.js'
import { unavailableResponse, unavailableResponseFor } from '../../lib/request/response.js'

const ok = async () => ({ ok: true })
// the URIs and titles of draft-ietf-httpapi-ratelimit-headers-10, sections 5 and 10.2, written out
// here rather than imported, so that a change to them shows in this file
const QUOTA_EXCEEDED = 'https://iana.org/assignments/http-problem-types#quota-exceeded'
const ABNORMAL_USAGE = 'https://iana.org/assignments/http-problem-types#abnormal-usage-detected'
const REDUCED_CAPACITY = 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity'

t.test("errorFormat: 'problem' answers RFC 9457 problem details naming the policy as RateLimit-Policy does", async (t) => {
  const { app } = await build({ errorFormat: 'problem', headers: 'ietf' })
  app.get('/r', { config: { rateLimit: { ip: ['1/min', '100/day'] } } }, ok)
  t.same(await hit(app, '/r', 1), [200])
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  t.equal(denied.headers['content-type'], 'application/problem+json; charset=utf-8')
  const body = denied.json()
  t.same(Object.keys(body), ['type', 'title', 'status', 'detail', 'violated-policies'])
  t.equal(body.type, QUOTA_EXCEEDED)
  t.equal(body.title, 'Quota Exceeded', 'the title the draft registers with IANA')
  t.equal(body.status, 429)
  t.match(body.detail, /^Rate limit exceeded, retry in \d+ seconds$/)
  t.same(body['violated-policies'], ['ip-1/min'])
  const policies = parseList(denied.headers['ratelimit-policy'] as string).map(([name]) => name)
  t.ok(policies.includes(body['violated-policies'][0]), 'the name is one of the RateLimit-Policy names')
  t.equal(parseItem(denied.headers.ratelimit as string)[0], body['violated-policies'][0], 'and the one RateLimit reports')
  t.equal(denied.headers['retry-after'] !== undefined, true)
})

t.test('the default stays the plain body; routes override errorFormat either way', async (t) => {
  const { app } = await build()
  app.get('/plain', { config: { rateLimit: '1/min' } }, ok)
  app.get('/problem', { config: { rateLimit: { user: '1/min', ip: '1/min', errorFormat: 'problem' } } }, ok)
  await hit(app, '/plain', 1)
  await hit(app, '/problem', 1)
  const plain = await app.inject('/plain')
  t.equal(plain.headers['content-type'], 'application/json; charset=utf-8')
  t.same(Object.keys(plain.json()), ['statusCode', 'error', 'message'])
  const problem = await app.inject('/problem')
  t.equal(problem.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.same(problem.json()['violated-policies'], ['ip-1/min'])

  const other = await build({ errorFormat: 'problem' })
  other.app.get('/plain', { config: { rateLimit: { ip: '1/min', errorFormat: 'plain' } } }, ok)
  await hit(other.app, '/plain', 1)
  const back = await other.app.inject('/plain')
  t.equal(back.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(back.json().error, 'Too Many Requests')
})

t.test("a user's errorResponseBuilder builds the body; errorFormat 'problem' still sends it as application/problem+json", async (t) => {
  const builder = (_request: unknown, context: { bucket: string, rate: string, statusCode: number }) => ({
    type: 'https://example.com/problems/slow-down', title: 'Slow down', status: context.statusCode, policy: `${context.bucket}-${context.rate}`
  })
  const { app } = await build({ errorFormat: 'problem', errorResponseBuilder: builder })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  app.get('/plain', { config: { rateLimit: { ip: '1/min', errorFormat: 'plain' } } }, ok)
  await hit(app, '/r', 1)
  await hit(app, '/plain', 1)
  const denied = await app.inject('/r')
  t.equal(denied.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.same(denied.json(), { type: 'https://example.com/problems/slow-down', title: 'Slow down', status: 429, policy: 'ip-1/min' })
  const plain = await app.inject('/plain')
  t.equal(plain.headers['content-type'], 'application/json; charset=utf-8', "errorFormat 'plain' leaves the builder's body as JSON")
  t.equal(plain.json().title, 'Slow down')
})

t.test('problem 429s are counted in stats() like any 429; dry run sends no problem', async (t) => {
  const { app } = await build({ errorFormat: 'problem' })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  app.get('/dry', { config: { rateLimit: { ip: '1/min', dryRun: true } } }, ok)
  t.same(await hit(app, '/r', 3), [200, 429, 429])
  t.same(await hit(app, '/dry', 1), [200])
  const dry = await app.inject('/dry')
  t.equal(dry.statusCode, 200)
  t.same(dry.json(), { ok: true }, 'a dry-run denial reaches the handler')
  const stats = await app.rateLimit.stats()
  t.match(stats, { allowed: 2, denied: 2, dryRunDenied: 1 })
  t.match(stats.routes['GET /r'], { allowed: 1, denied: 2 })
})

t.test("a ban's answer has the draft's abnormal-usage-detected type, naming the policy whose denials started it", async (t) => {
  const { app } = await build({ errorFormat: 'problem', headers: 'ietf', algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 2, for: '15min' } } } }, ok)
  t.same(await hit(app, '/r', 2), [200, 429])
  const quota = await app.inject('/r')
  const banned = await app.inject('/r')
  t.equal(banned.statusCode, 403)
  t.equal(banned.headers['content-type'], 'application/problem+json; charset=utf-8')
  const body = banned.json()
  t.same(Object.keys(body), ['type', 'title', 'status', 'detail', 'violated-policies'])
  t.same([body.type, body.title, body.status], [ABNORMAL_USAGE, 'Abnormal Usage Detected', 403])
  t.equal(body.detail, 'Banned after repeated requests over the rate limit, retry in 15 minutes')
  t.same(body['violated-policies'], ['ip-1/min'])
  t.equal(parseItem(banned.headers.ratelimit as string)[0], 'ip-1/min', 'the name RateLimit reports')
  t.equal(quota.statusCode, 403, 'the after-th denial is itself answered as banned')
  t.equal(quota.json().type, ABNORMAL_USAGE)
})

t.test("the 503 of onStoreError: 'deny' in each errorFormat: plain, or the draft's temporary-reduced-capacity problem", async (t) => {
  const plain = unavailableResponseFor('plain')
  t.equal(plain.contentType, undefined, "Fastify's JSON")
  t.same(plain.body, unavailableResponse())
  t.same(plain.body, { statusCode: 503, error: 'Service Unavailable', message: 'The rate-limit store is unavailable, retry in 1 second' })
  const problem = unavailableResponseFor('problem')
  t.equal(problem.contentType, 'application/problem+json')
  t.same(problem.body, {
    type: REDUCED_CAPACITY,
    title: 'Temporary Reduced Capacity',
    status: 503,
    detail: 'The rate-limit store is unavailable, retry in 1 second'
  }, 'no violated-policies: no quota was exceeded')
  t.equal(unavailableResponseFor('problem'), problem, 'made once')
  t.ok(Object.isFrozen(problem.body) && Object.isFrozen(plain.body), 'shared, so never changed by a caller')
})

t.test("a request answered 503 by onStoreError: 'deny' gets its limit's format, and the OpenAPI document says so", async (t) => {
  const store = requiredOnlyStore(t, {})
  store.consume = () => { throw new Error('down') }
  const { app } = await build({ store, onStoreError: 'deny' })
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1.0.0' } } })
  app.get('/problem', { config: { rateLimit: { ip: '10/min', errorFormat: 'problem' } } }, async () => 'ok')
  app.get('/plain', { config: { rateLimit: '10/min' } }, async () => 'ok')
  await app.ready()
  const problem = await app.inject('/problem')
  t.equal(problem.statusCode, 503)
  t.equal(problem.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(problem.headers['retry-after'], '1')
  t.match(problem.json(), { type: REDUCED_CAPACITY, title: 'Temporary Reduced Capacity', status: 503 })
  const plain = await app.inject('/plain')
  t.match(plain.json(), { statusCode: 503, error: 'Service Unavailable' })
  const doc = app.swagger() as unknown as { paths: Record<string, { get: { responses: Record<string, any> } }> }
  t.same(doc.paths['/problem'].get.responses['503'].content['application/problem+json'].schema.properties.type.enum, [REDUCED_CAPACITY])
  t.equal(doc.paths['/plain'].get.responses['503'].content['application/json'].schema.properties.statusCode.enum[0], 503)
  await app.close()
})
