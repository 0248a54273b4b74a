import t from 'tap'
import { algorithmNames, algorithms } from '../../index.js'
import type { AlgorithmName, AlgorithmParams, RouteRateLimit } from '../../index.js'
import { build, thrown } from '../support/helpers.js'

// Per-route `algorithm` and `burst`, for all six, through the plugin and the memory store: every
// response must be what the pure algorithm decides for the same clock.

/** Offsets (ms) from the start of a second: a burst, then traffic across two window seams. */
const offsets = [0, 0, 0, 0, 0, 0, 200, 333, 334, 700, 1000, 1100, 1500, 2600, 2600, 2601]

/** What the algorithm alone decides for one key at `times`, keeping state only when allowed. */
function expected (name: AlgorithmName, params: AlgorithmParams, times: number[]) {
  let state: unknown
  return times.map((now) => {
    const { decision, state: next } = algorithms[name].consume(state, now, 1, params)
    if (decision.allowed) state = next
    return decision
  })
}

for (const name of algorithmNames) {
  const burst = algorithms[name].usesBurst ? 5 : undefined
  t.test(`algorithm: '${name}'${burst === undefined ? '' : ', burst: 5'} on a route`, async (t) => {
    const { app, clock } = await build()
    const rateLimit: RouteRateLimit = burst === undefined ? { ip: '3/s', algorithm: name } : { ip: '3/s', algorithm: name, burst }
    app.get('/r', { config: { rateLimit } }, async (request) => request.rateLimit)
    const start = clock.now
    const decisions = expected(name, { limit: 3, windowMs: 1000, burst: burst ?? 3 }, offsets.map((ms) => start + ms))
    for (const [i, decision] of decisions.entries()) {
      clock.now = start + offsets[i]
      const response = await app.inject('/r')
      t.equal(response.statusCode, decision.allowed ? 200 : 429, `request ${i} at +${offsets[i]} ms`)
      t.equal(response.headers['x-ratelimit-remaining'], String(decision.remaining))
      if (decision.allowed) {
        t.same(response.json(), { ...decision, bucket: 'ip', rate: '3/s' })
      } else {
        t.equal(response.headers['retry-after'], String(Math.ceil(decision.retryAfterMs / 1000)))
      }
    }
    // the burst at one instant: the window algorithms pass the limit, the buckets their burst
    t.equal(decisions.slice(0, 6).filter((d) => d.allowed).length, burst ?? 3)
  })
}

t.test('without `algorithm`, a route runs sliding-window', async (t) => {
  const { app, clock } = await build()
  app.get('/default', { config: { rateLimit: '3/s' } }, async () => 'ok')
  // 3 late in one second, then tries early in the next: this sequence tells all six apart
  // from sliding-window (fixed-window passes 3 again, the buckets refill, the log still holds 3)
  const start = clock.now
  const times = [500, 500, 500, 1100, 1100, 1400, 1400].map((ms) => start + ms)
  const codes: number[] = []
  for (const at of times) {
    clock.now = at
    codes.push((await app.inject('/default')).statusCode)
  }
  const codesOf = (name: AlgorithmName) =>
    expected(name, { limit: 3, windowMs: 1000, burst: 3 }, times).map((d) => d.allowed ? 200 : 429)
  t.same(codes, [200, 200, 200, 429, 429, 200, 429])
  t.same(codes, codesOf('sliding-window'))
  for (const name of algorithmNames.filter((n) => n !== 'sliding-window')) {
    t.notSame(codes, codesOf(name), `not ${name}`)
  }
  t.equal(start % 1000, 0, 'the clock starts on a whole second, so the windows are where the comment says')
})

t.test('the plugin option `algorithm` changes the default, and a route may still choose', async (t) => {
  const { app } = await build({ algorithm: 'gcra' })
  app.get('/gcra', { config: { rateLimit: { ip: '2/s', burst: 4 } } }, async () => 'ok')
  app.get('/log', { config: { rateLimit: { ip: '2/s', algorithm: 'sliding-log' } } }, async () => 'ok')
  const burst = []
  const log = []
  for (let i = 0; i < 5; i++) burst.push((await app.inject('/gcra')).statusCode)
  for (let i = 0; i < 3; i++) log.push((await app.inject('/log')).statusCode)
  t.same(burst, [200, 200, 200, 200, 429], 'gcra takes the route burst')
  t.same(log, [200, 200, 429])
})

t.test('burst is refused where the algorithm has none', async (t) => {
  const { app } = await build()
  for (const name of algorithmNames.filter((n) => !algorithms[n].usesBurst)) {
    const err = thrown(() => app.get(`/${name}`, { config: { rateLimit: { ip: '3/s', algorithm: name, burst: 5 } } }, async () => 'ok'))
    t.equal(err?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG', name)
  }
})
