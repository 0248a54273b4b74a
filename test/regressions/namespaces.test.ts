// Issue 14, item 5: a group named 'GET /a' shared route GET /a's buckets, a group named '*'
// shared the global limit's, and a config.rateLimit and a hook() limit with the same rate on
// one route shared keys, so each request was counted twice (2 of 4 allowed on a 4/min limit).
// Routes, groups, the global limit and hook() limits each have their own key namespace, and a
// bucket is charged at most once per request.
import t from 'tap'
import { build, hit } from '../support/helpers.js'

const ok = async () => 'ok'

t.test("a group named like a route does not share the route's buckets", async (t) => {
  const { app } = await build()
  app.get('/a', { config: { rateLimit: '1/min' } }, ok)
  app.get('/g', { config: { rateLimit: { ip: '1/min', group: 'GET /a' } } }, ok)
  t.same(await hit(app, '/a', 2), [200, 429])
  t.same(await hit(app, '/g', 2), [200, 429], 'the group counts on its own')
})

t.test("a group named '*' does not share the global limit's buckets", async (t) => {
  const { app } = await build({ global: '1/min' })
  app.get('/plain', ok)
  app.get('/star', { config: { rateLimit: { ip: '1/min', group: '*' } } }, ok)
  t.same(await hit(app, '/plain', 2), [200, 429])
  t.same(await hit(app, '/star', 2), [200, 429], 'the group counts on its own')
})

t.test('a config.rateLimit and a hook() limit with the same rate each count a request once', async (t) => {
  const { app } = await build()
  app.addHook('onRequest', app.rateLimit.hook({ ip: '4/min' }))
  app.get('/r', { config: { rateLimit: '4/min' } }, ok)
  t.same(await hit(app, '/r', 5), [200, 200, 200, 200, 429], '4 of a 4/min limit, not 2')
})

t.test('two hook() limits with the same rate are two limits, each counting a request once', async (t) => {
  const { app } = await build()
  app.addHook('onRequest', app.rateLimit.hook({ ip: '3/min' }))
  app.addHook('onRequest', app.rateLimit.hook({ ip: '3/min' }))
  app.get('/r', ok)
  t.same(await hit(app, '/r', 4), [200, 200, 200, 429])
})

t.test('one group declared by a route and by a hook() is one bucket, charged once per request', async (t) => {
  const { app } = await build()
  app.addHook('onRequest', app.rateLimit.hook({ ip: '4/min', group: 'shared' }))
  app.get('/r', { config: { rateLimit: { ip: '4/min', group: 'shared' } } }, ok)
  app.get('/s', ok)
  t.same(await hit(app, '/r', 2), [200, 200])
  t.same(await hit(app, '/s', 3), [200, 200, 429], 'the group is shared across routes: 2 + 2 of 4')
})

t.test('reset({ route }) finds a group by name in its namespace', async (t) => {
  const { app } = await build()
  app.get('/g', { config: { rateLimit: { ip: '1/min', group: 'GET /a' } } }, ok)
  t.same(await hit(app, '/g', 2), [200, 429])
  await app.rateLimit.reset({ route: 'GET /a', ip: '127.0.0.1' })
  t.same(await hit(app, '/g', 1), [200])
})
