// Issue 14, item 6: with README's own examples a client got a coded 500 on every request, never
// counted, by sending an empty X-Api-Key (an empty identity) or ?pages=abc (a cost of NaN). An
// empty identity now means "no identity" (the next bucket kind applies), README's cost example
// validates its input, and a request whose cost cannot be computed is still counted, at cost 1,
// before the coded error is answered.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { build, hit } from '../support/helpers.js'

const ok = async () => 'ok'

t.test('an empty key is no key: the IP bucket applies', async (t) => {
  const { app } = await build()
  app.get('/partner', { config: { rateLimit: { key: (r) => r.headers['x-api-key'] as string | undefined, rate: '1000/hour', ip: '2/min' } } }, ok)
  const headers = { 'x-api-key': '' }
  const first = await app.inject({ url: '/partner', headers })
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-ratelimit-limit'], '2', 'counted in the IP bucket')
  t.same(await hit(app, '/partner', 2, headers), [200, 429])
})

t.test("README's /partner route: an empty key is like no key (that route has no other limit)", async (t) => {
  const { app } = await build()
  app.get('/partner', { config: { rateLimit: { key: (r) => r.headers['x-api-key'] as string | undefined, rate: '1000/hour' } } }, ok)
  const res = await app.inject({ url: '/partner', headers: { 'x-api-key': '' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-ratelimit-limit'], undefined)
})

t.test('an empty user id is anonymous: the IP bucket applies', async (t) => {
  const { app } = await build({ user: () => '' })
  app.get('/r', { config: { rateLimit: { ip: '1/min', user: '100/min' } } }, ok)
  t.same(await hit(app, '/r', 2), [200, 429])
})

t.test("README's cost example validates its input: ?pages=abc costs 1", async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  // as in README.md
  const pages = (r: FastifyRequest) => Math.min(Math.max(Number.parseInt((r.query as { pages?: string }).pages ?? '1', 10) || 1, 1), 1000)
  app.get('/query', { config: { rateLimit: { ip: '1000/hour', cost: pages } } }, ok)
  for (const [query, remaining] of [['pages=abc', '999'], ['pages=-5', '998'], ['pages=3', '995'], ['pages=99999', '995'], ['', '994']]) {
    const res = await app.inject(`/query?${query}`)
    t.equal(res.headers['x-ratelimit-remaining'], remaining, query) // 99999 is capped to 1000: too many for 995 left, denied
  }
})

t.test('a cost that cannot be computed is counted at cost 1, then answered with the coded error', async (t) => {
  const { app } = await build()
  app.get('/q', { config: { rateLimit: { ip: '3/min', cost: (r) => Number((r.query as { pages?: string }).pages) } } }, ok)
  app.get('/t', { config: { rateLimit: { ip: '3/min', cost: () => { throw new Error('no cost') } } } }, ok)
  for (const url of ['/q?pages=abc', '/t']) {
    for (let i = 0; i < 3; i++) {
      const res = await app.inject(url)
      t.equal(res.statusCode, 500)
      t.equal(res.json().code, url === '/t' ? 'FST_LIMITER_RESOLVER_FAILED' : 'FST_LIMITER_INVALID_COST')
    }
    t.equal((await app.inject(url)).statusCode, 429, `${url}: the three were counted: the client is limited`)
  }
  t.match(await app.rateLimit.stats(), { allowed: 6, denied: 2 })
})

t.test('in dry-run and with onStoreError allow, the coded error is still answered', async (t) => {
  const { app } = await build()
  app.get('/d', { config: { rateLimit: { ip: '1/min', dryRun: true, cost: () => Number.NaN } } }, ok)
  t.same(await hit(app, '/d', 2), [500, 500])
})
