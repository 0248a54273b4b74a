import t from 'tap'
import { build, hit } from '../support/helpers.js'

t.test('several windows on one route: all must allow, and a denial charges none', async (t) => {
  const { app, clock } = await build({ algorithm: 'fixed-window' })
  app.get('/search', { config: { rateLimit: { ip: ['2/s', '3/min'] } } }, async (request) => request.rateLimit)
  t.same(await hit(app, '/search', 3), [200, 200, 429], 'the per-second window')
  clock.advance(1_000)
  t.same(await hit(app, '/search', 2), [200, 429], 'the per-minute window: 3 in total')
  const denied = await app.inject('/search')
  t.equal(denied.headers['x-ratelimit-limit'], '3', 'headers describe the denying window')
  clock.advance(1_000)
  t.same(await hit(app, '/search', 1), [429])
  clock.advance(60_000)
  t.same(await hit(app, '/search', 3), [200, 200, 429], 'denials during the minute charged nothing to the per-second window')
})

t.test('retry after the longest wait of the denying windows', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: { ip: ['1/s', '1/min'] } } }, async () => 'ok')
  await app.inject('/r')
  const denied = await app.inject('/r')
  t.equal(denied.headers['retry-after'], '40', 'the minute window (the clock is 20 s into a minute)')
})

t.test('user limits may have several windows too', async (t) => {
  const { app } = await build({ user: () => 'u1', algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: { user: ['1/s', { limit: 5, windowMs: 60_000 }] } } }, async () => 'ok')
  t.same(await hit(app, '/r', 2), [200, 429])
})
