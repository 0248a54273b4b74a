import t from 'tap'
import { parseItem, parseList } from 'structured-headers'
import { build, hit } from '../support/helpers.js'

const ok = async () => ({ ok: true })
const QUOTA_EXCEEDED = 'https://iana.org/assignments/http-problem-types#quota-exceeded'

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
  t.equal(body.title, 'Request cannot be satisfied as assigned quota has been exceeded')
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
