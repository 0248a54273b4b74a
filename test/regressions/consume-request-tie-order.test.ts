// Issue 19, found by the model-based test (test/plugin/model.test.ts): `consume(request)` and
// `peek(request)` decided an `apply: 'all'` request's buckets in the order its hook decision was
// recorded (the deciding kind first), not in the order the hook and a selector decide them (key,
// user, IP). When two buckets denied with the same wait, the decision described another bucket
// (`bucket`, `limit`, `rate`) than `consume({ route, key, ip })` for the same identities. Shrunk
// counterexample: key '2/s' and ip '1/s', apply 'all'; a request (its hook decision: the IP,
// fewest left) held while another from the same key filled the key bucket; its consume(request)
// said `bucket: 'ip'`, the model (and the selector) `bucket: 'key'`.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { build } from '../support/helpers.js'

t.test('consume(request) and peek(request) break ties between buckets as the hook and a selector do', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  const seen: FastifyRequest[] = []
  app.get('/r', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string, rate: '2/s', ip: '1/s', apply: 'all' } } }, async (request) => {
    seen.push(request)
    return request.rateLimit
  })
  const first = await app.inject({ url: '/r', headers: { 'x-key': 'k1' }, remoteAddress: '10.0.0.1' })
  t.match(first.json(), { allowed: true, bucket: 'ip' }, 'the first request is decided by its IP (nothing left)')
  // the same key from another IP: the key's bucket is full too
  t.equal((await app.inject({ url: '/r', headers: { 'x-key': 'k1' }, remoteAddress: '10.0.0.2' })).statusCode, 200)
  // both of the first request's buckets deny until the window ends: a tie, broken by the order key, user, IP
  const selector = { route: 'GET /r', key: 'k1', ip: '10.0.0.1' }
  const bySelector = await app.rateLimit.peek(selector)
  t.match(bySelector, { allowed: false, retryAfterMs: 1000, bucket: 'key', rate: '2/s' })
  t.same(await app.rateLimit.peek(seen[0]), bySelector, 'peek(request) as peek(selector)')
  t.same(await app.rateLimit.consume(seen[0]), await app.rateLimit.consume(selector), 'consume(request) as consume(selector)')
})
