import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import SwaggerParser from '@apidevtools/swagger-parser'
import limiter from '../../index.js'
import type { FastifyLimiterOptions, RouteRateLimit } from '../../index.js'
import { build, gate, until } from '../support/helpers.js'

// Per-header control (issue 20, item 3): a field of the custom-names form may be renamed or
// `false` (not sent), and `deniedHeaders`, of the same shape, says what denials send, on the plugin
// and on routes: @fastify/rate-limit's `addHeaders` (denials) and `addHeadersOnExceeding` (the rest).

const ok = async () => ({ ok: true })
const legacy = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after']

/** The legacy headers a response carries, of the four. */
function sent (headers: Record<string, unknown>): string[] {
  return legacy.filter((name) => headers[name] !== undefined)
}

/** An allowed response and a denied one of a '1/min' route with this plugin and route config. */
async function pair (t: Test, options: FastifyLimiterOptions, route: Exclude<RouteRateLimit, string | false> = {}) {
  const { app } = await build(options)
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: { ip: '1/min', ...route } } }, ok)
  const allowed = await app.inject('/r')
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  return { allowed: sent(allowed.headers), denied: sent(denied.headers) }
}

t.test("@fastify/rate-limit's six cases of addHeaders and addHeadersOnExceeding", async (t) => {
  const all = legacy.slice(0, 3)
  // 1. addHeaders: all false (the plugin's): denials send none, the rest all three
  t.same(await pair(t, { deniedHeaders: false }), { allowed: all, denied: [] })
  // 2. addHeadersOnExceeding: all false: only denials send them
  t.same(await pair(t, { headers: false, deniedHeaders: 'legacy' }), { allowed: [], denied: legacy })
  // 3. both all false: none at all
  t.same(await pair(t, { headers: false }), { allowed: [], denied: [] })
  // 4. a route's addHeaders overrides the plugin's: the limit alone on its denials
  t.same(await pair(t, { deniedHeaders: false }, { deniedHeaders: { remaining: false, reset: false, retryAfter: false } }),
    { allowed: all, denied: ['x-ratelimit-limit'] })
  // 5. a route's addHeadersOnExceeding overrides the plugin's: the limit alone on the rest
  t.same(await pair(t, { headers: false, deniedHeaders: 'legacy' }, { headers: { remaining: false, reset: false } }),
    { allowed: ['x-ratelimit-limit'], denied: legacy })
  // 6. both overridden on the route: the remaining count alone on the rest, the limit alone on denials
  t.same(await pair(t, { headers: false }, { headers: { limit: false, reset: false }, deniedHeaders: { remaining: false, reset: false, retryAfter: false } }),
    { allowed: ['x-ratelimit-remaining'], denied: ['x-ratelimit-limit'] })
})

t.test('a field is renamed or false; an object with every field false sends nothing', async (t) => {
  const { app } = await build({ headers: { limit: 'x-quota', remaining: false } })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  app.get('/none', { config: { rateLimit: { ip: '1/min', headers: { limit: false, remaining: false, reset: false, retryAfter: false } } } }, ok)
  const allowed = await app.inject('/r')
  t.equal(allowed.headers['x-quota'], '1')
  t.same(sent(allowed.headers), ['x-ratelimit-reset'], 'remaining left out, reset under its legacy name')
  const denied = await app.inject('/r')
  t.same(sent(denied.headers), ['x-ratelimit-reset', 'retry-after'], 'denials send what headers says when deniedHeaders is not set')
  t.equal(denied.headers['x-quota'], '1')
  await app.inject('/none')
  const none = await app.inject('/none')
  t.equal(none.statusCode, 429)
  t.same(sent(none.headers), [])
})

t.test('deniedHeaders takes every form of headers: a draft on denials only, names of its own', async (t) => {
  const { app } = await build({ headers: 'draft-6', deniedHeaders: { retryAfter: 'x-retry-in' } })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  app.get('/draft', { config: { rateLimit: { ip: '1/min', headers: false, deniedHeaders: 'draft-7' } } }, ok)
  const allowed = await app.inject('/r')
  t.equal(allowed.headers['ratelimit-limit'], '1')
  const denied = await app.inject('/r')
  t.same(sent(denied.headers), ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'])
  t.ok(denied.headers['x-retry-in'])
  t.notOk(denied.headers['ratelimit-limit'], "the plugin's deniedHeaders, not headers, on a denial")
  const quiet = await app.inject('/draft')
  t.notOk(quiet.headers.ratelimit)
  const draft = await app.inject('/draft')
  t.equal(draft.headers['ratelimit-policy'], '1;w=60')
  t.match(draft.headers.ratelimit, /^limit=1, remaining=0, reset=\d+$/)
  t.ok(draft.headers['retry-after'])
})

t.test("a route's headers alone: its denials keep the plugin's deniedHeaders when it has some, else send the route's headers", async (t) => {
  t.same(await pair(t, { deniedHeaders: { retryAfter: false } }, { headers: false }),
    { allowed: [], denied: ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'] })
  t.same(await pair(t, {}, { headers: { reset: false } }),
    { allowed: ['x-ratelimit-limit', 'x-ratelimit-remaining'], denied: ['x-ratelimit-limit', 'x-ratelimit-remaining', 'retry-after'] })
})

t.test('a dry-run denial is no denial: it sends headers, not deniedHeaders', async (t) => {
  const { app } = await build({ headers: { reset: false }, deniedHeaders: false })
  app.get('/r', { config: { rateLimit: { ip: '1/min', dryRun: true } } }, ok)
  await app.inject('/r')
  const res = await app.inject('/r')
  t.equal(res.statusCode, 200)
  t.same(sent(res.headers), ['x-ratelimit-limit', 'x-ratelimit-remaining'])
})

t.test("a ban's 403 sends deniedHeaders", async (t) => {
  const { app } = await build({ deniedHeaders: { limit: false, remaining: false, reset: false, retryAfter: 'x-banned-for' } })
  app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '10min' } } } }, ok)
  await app.inject('/r')
  const banned = await app.inject('/r')
  t.equal(banned.statusCode, 403)
  t.same(sent(banned.headers), [])
  t.equal(banned.headers['x-banned-for'], '600')
})

t.test("a concurrency limit's 429 sends Retry-After under deniedHeaders' name, or not at all", async (t) => {
  for (const [deniedHeaders, name] of [[{ retryAfter: 'x-retry-in' }, 'x-retry-in'], [false, undefined], ['draft-8', 'retry-after']] as const) {
    const { app } = await build({ deniedHeaders })
    const held = gate()
    app.get('/r', { config: { rateLimit: { concurrency: { ip: 1 } } } }, held.handler)
    const first = app.inject('/r')
    await until(() => held.entered === 1)
    const over = await app.inject('/r')
    t.equal(over.statusCode, 429)
    t.same(Object.keys(over.headers).filter((h) => h.includes('retry')), name === undefined ? [] : [name], JSON.stringify(deniedHeaders))
    held.open()
    await first
    await app.close()
  }
})

t.test('OpenAPI documents headers on the other responses and deniedHeaders on the 429, fields left out', async (t) => {
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(limiter, { headers: { remaining: false }, deniedHeaders: { reset: false, retryAfter: 'X-Retry-In' } })
  app.get('/r', { config: { rateLimit: '10/min' } }, ok)
  app.get('/quiet', { config: { rateLimit: { ip: '10/min', headers: false, deniedHeaders: 'draft-6' } } }, ok)
  await app.ready()
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, any>> }
  await SwaggerParser.validate(structuredClone(doc) as never)
  const r = doc.paths['/r'].get.responses
  t.same(Object.keys(r['200'].headers), ['X-RateLimit-Limit', 'X-RateLimit-Reset'])
  t.same(Object.keys(r['429'].headers), ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-Retry-In'])
  const quiet = doc.paths['/quiet'].get.responses
  t.equal(quiet['200'].headers, undefined)
  t.same(Object.keys(quiet['429'].headers), ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After'])
  await app.close()
})
