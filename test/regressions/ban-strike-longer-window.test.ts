// Issue 19, found by the model-based test (test/plugin/model.test.ts). docs/bans.md: "Strikes
// more than one window apart (the window of the rate that denied) start over". A strike by a rate
// with a longer window than the strike before it started over all the same: the ban state written
// by the first strike expired (algorithms/ban.ts `banStrike`: `e = since + windowMs`, the window
// of the rate that struck then), so the stores forgot it one shorter window after the series
// began, although the pure `banStrike` on the kept state would count it. Fixed: the strike's rule
// carries the longest window of the identity's rates (`longestWindowMs`), and the state is kept
// that long from its first strike (the Lua twin too; the conformance suite checks every store).
// Shrunk counterexample (memory, SQLite and Redis alike): ip ['1/s', '2/2s'], fixed-window,
// ban { after: 2, for: 500 }; a strike by '1/s' at T0+1000, then at T0+2000 a denial by '2/2s'
// (a settled cost above the estimate filled its new window): 1000 ms after the first strike, within
// the 2 s window, so the second strike and a ban (403); the plugin answered an ordinary 429.
import t from 'tap'
import { build } from '../support/helpers.js'

t.test('a strike counts within the window of the rate that denied, even after a shorter window of an earlier strike', async (t) => {
  // the helpers' clock starts on a multiple of 2 s: both windows start there
  const { app, clock } = await build({ algorithm: 'fixed-window' })
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: { ip: ['1/s', '2/2s'], ban: { after: 2, for: 500 } } } }, async (request) => {
    // settled above the estimate of 1: both buckets hold 2
    if (request.headers['x-debt'] !== undefined) await app.rateLimit.settle(request, 2)
    return 'ok'
  })
  clock.advance(1000)
  t.equal((await app.inject('/r')).statusCode, 200)
  const first = await app.inject('/r')
  t.equal(first.statusCode, 429, 'the 1 s rate denies: the first strike')
  clock.advance(1000)
  t.equal((await app.inject({ url: '/r', headers: { 'x-debt': '1' } })).statusCode, 200)
  const second = await app.inject('/r')
  t.match(second.json(), { message: /Banned/ }, 'the 2 s rate denies 1000 ms after the first strike, within its window: the second strike bans')
  t.equal(second.statusCode, 403)
})
