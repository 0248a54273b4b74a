import t from 'tap'
import { build, captureLog, hit } from '../support/helpers.js'

const ok = async () => ({ ok: true })

t.test('plugin-wide dryRun counts and sends headers but never blocks, and logs what it would block', async (t) => {
  const { lines, logger } = captureLog('warn')
  const { app } = await build({ dryRun: true }, { logger })
  app.get('/r', { config: { rateLimit: '1/min' } }, async (request) => request.rateLimit)
  t.same(await hit(app, '/r', 3), [200, 200, 200])
  const res = await app.inject('/r')
  t.equal(res.headers['x-ratelimit-remaining'], '0')
  t.notOk(res.headers['retry-after'], 'not a 429, so no Retry-After')
  t.equal(res.json().allowed, false, 'request.rateLimit says it would have been denied')
  const warned = lines.filter((l) => l.msg === 'rate limit exceeded (dry run: request allowed)')
  t.equal(warned.length, 3)
  t.match(warned[0], { rateLimit: { route: 'GET /r', bucket: 'ip', dryRun: true, limit: 1 } })
  const stats = await app.rateLimit.stats()
  t.equal(stats.allowed, 1)
  t.equal(stats.dryRunDenied, 3)
  t.equal(stats.denied, 0)
})

t.test('per-route dryRun, and a route can opt out of the plugin-wide one', async (t) => {
  const { app } = await build({ dryRun: true })
  app.get('/soft', { config: { rateLimit: '1/min' } }, ok)
  app.get('/hard', { config: { rateLimit: { ip: '1/min', dryRun: false } } }, ok)
  t.same(await hit(app, '/soft', 2), [200, 200])
  t.same(await hit(app, '/hard', 2), [200, 429])
  const plain = await build()
  plain.app.get('/soft', { config: { rateLimit: { ip: '1/min', dryRun: true } } }, ok)
  t.same(await hit(plain.app, '/soft', 2), [200, 200])
})
