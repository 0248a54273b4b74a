import t from 'tap'
import { createHash } from 'node:crypto'
import { parseDictionary, parseItem, parseList } from 'structured-headers'
import { build, hit } from '../support/helpers.js'

const ok = async () => ({ ok: true })

/** The end of the current fixed window of `windowMs`, and seconds from `now` to it. */
function windowEnd (now: number, windowMs: number): { end: number, seconds: number } {
  const end = (Math.floor(now / windowMs) + 1) * windowMs
  return { end, seconds: Math.ceil((end - now) / 1000) }
}

t.test("draft-6: RateLimit-Limit, -Remaining, -Reset in seconds from now, as @fastify/rate-limit's enableDraftSpec sends them", async (t) => {
  const { app, clock } = await build({ headers: 'draft-6', algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: '2/min' } }, ok)
  const first = await app.inject('/r')
  const { seconds } = windowEnd(clock.now, 60_000)
  t.equal(first.headers['ratelimit-limit'], '2')
  t.equal(first.headers['ratelimit-remaining'], '1')
  t.equal(first.headers['ratelimit-reset'], String(seconds))
  t.notOk(first.headers['x-ratelimit-limit'])
  t.notOk(first.headers['ratelimit-policy'], 'enableDraftSpec sends no policy field')
  t.notOk(first.headers['retry-after'])
  await app.inject('/r')
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  t.equal(denied.headers['ratelimit-remaining'], '0')
  t.equal(denied.headers['retry-after'], String(seconds))
})

t.test('draft-7: RateLimit-Policy "L;w=W" and the combined RateLimit field', async (t) => {
  const { app, clock } = await build({ headers: 'draft-7', algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: { ip: ['2/s', '100/hour'] } } }, ok)
  const res = await app.inject('/r')
  t.equal(res.headers['ratelimit-policy'], '2;w=1', 'the deciding (most restrictive) window')
  const fields = parseDictionary(res.headers.ratelimit as string)
  t.same(Object.fromEntries([...fields].map(([k, [v]]) => [k, v])), { limit: 2, remaining: 1, reset: windowEnd(clock.now, 1000).seconds })
  t.equal(res.headers.ratelimit, `limit=2, remaining=1, reset=${windowEnd(clock.now, 1000).seconds}`, "express-rate-limit's exact layout")
  await app.inject('/r')
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  t.match(denied.headers.ratelimit, /^limit=2, remaining=0, reset=\d+$/)
  t.equal(denied.headers['retry-after'], '1')
})

t.test('draft-8: one policy per window with a partition key, and the RateLimit item, laid out as express-rate-limit does', async (t) => {
  const { app, clock } = await build({ headers: 'draft-8', algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: { ip: ['2/s', '100/hour'] } } }, ok)
  const res = await app.inject({ url: '/r', remoteAddress: '192.0.2.7' })
  const pk = Buffer.from(createHash('sha256').update('192.0.2.7').digest('hex').slice(0, 12)).toString('base64')
  t.equal(res.headers['ratelimit-policy'], `"ip-2/s"; q=2; w=1; pk=:${pk}:, "ip-100/hour"; q=100; w=3600; pk=:${pk}:`)
  const policies = parseList(res.headers['ratelimit-policy'] as string)
  t.same(policies.map(([name, params]) => [name, params.get('q'), params.get('w')]), [['ip-2/s', 2, 1], ['ip-100/hour', 100, 3600]], 'a valid structured field')
  t.equal(res.headers.ratelimit, `"ip-2/s"; r=1; t=${windowEnd(clock.now, 1000).seconds}`)
  const [name, params] = parseItem(res.headers.ratelimit as string)
  t.same([name, params.get('r')], ['ip-2/s', 1])
  const other = await app.inject({ url: '/r', remoteAddress: '192.0.2.8' })
  t.not(parseList(other.headers['ratelimit-policy'] as string)[0][1].get('pk'), policies[0][1].get('pk'), 'each client its own partition key')
  await app.inject({ url: '/r', remoteAddress: '192.0.2.7' })
  const denied = await app.inject({ url: '/r', remoteAddress: '192.0.2.7' })
  t.equal(denied.statusCode, 429)
  t.equal(parseItem(denied.headers.ratelimit as string)[1].get('r'), 0)
  t.equal(denied.headers['retry-after'], '1')
})

t.test('draft-10: lists of items named by policy; t is when more quota is available, on a 429 Retry-After itself (never before it)', async (t) => {
  const { app, clock } = await build({ headers: 'draft-10', algorithm: 'sliding-window' })
  app.get('/r', { config: { rateLimit: { ip: ['2/10s', '100/hour'] } } }, ok)
  clock.now = 1_700_000_000_000 // the start of a 10 s window
  await app.inject('/r')
  const second = await app.inject('/r')
  const policies = parseList(second.headers['ratelimit-policy'] as string)
  t.same(policies.map(([name, params]) => [name, Object.fromEntries(params)]), [
    ['ip-2/10s', { q: 2, w: 10 }],
    ['ip-100/hour', { q: 100, w: 3600 }]
  ], 'each policy a String item with the integer parameters q and w')
  const limits = parseList(second.headers.ratelimit as string)
  t.equal(limits.length, 1, 'RateLimit is a List: one item, the most restrictive policy')
  t.same([limits[0][0], Object.fromEntries(limits[0][1])], ['ip-2/10s', { r: 0, t: 20 }], 'allowed: t is the reset (the previous window stops weighing at 20 s)')
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  const [name, params] = parseList(denied.headers.ratelimit as string)[0]
  t.equal(name, 'ip-2/10s')
  // the sliding window lets one more request through at 15 s, when the previous window weighs 1
  t.same(Object.fromEntries(params), { r: 0, t: 15 })
  t.equal(denied.headers['retry-after'], '15', 'Retry-After is not earlier than t (section 6)')
  t.equal(parseItem((await rerun('draft-8')).headers.ratelimit as string)[1].get('t'), 20, 'draft-8 kept its own t: the reset')

  async function rerun (headers: 'draft-8') {
    const other = await build({ headers, algorithm: 'sliding-window' })
    other.app.get('/r', { config: { rateLimit: { ip: ['2/10s', '100/hour'] } } }, ok)
    other.clock.now = clock.now
    await hit(other.app, '/r', 2)
    return await other.app.inject('/r')
  }
})

t.test('ietf is draft-10, the newest revision whose text was checked: the same fields, byte for byte', async (t) => {
  const sent = async (headers: 'ietf' | 'draft-10') => {
    const { app, clock } = await build({ headers, algorithm: 'token-bucket' })
    app.get('/r', { config: { rateLimit: { user: '3/min', ip: ['2/s', '30/min'] } } }, ok)
    clock.now = 1_700_000_000_250
    const seen: Array<[unknown, unknown, unknown]> = []
    for (let i = 0; i < 4; i++) {
      const res = await app.inject('/r')
      seen.push([res.headers['ratelimit-policy'], res.headers.ratelimit, res.headers['retry-after']])
      clock.advance(100)
    }
    return seen
  }
  const ietf = await sent('ietf')
  t.same(ietf, await sent('draft-10'))
  t.same(ietf.map(([, , retry]) => retry), [undefined, undefined, '1', '1'], 'a 429 among them')
})

t.test('routes override headers, false included; the global limit and hook() limits keep the plugin format', async (t) => {
  const { app } = await build({ headers: 'ietf', global: '10/min' })
  app.get('/legacy', { config: { rateLimit: { ip: '1/min', headers: 'legacy' } } }, ok)
  app.get('/none', { config: { rateLimit: { ip: '1/min', headers: false } } }, ok)
  app.get('/named', { config: { rateLimit: { ip: '5/min', headers: { limit: 'x-quota' } } } }, ok)
  app.get('/plugin', { config: { rateLimit: '5/min' } }, ok)
  app.get('/global', ok)
  app.get('/hooked', { preHandler: app.rateLimit.hook({ ip: '5/min' }) }, ok)

  const legacy = await app.inject('/legacy')
  t.equal(legacy.headers['x-ratelimit-limit'], '1')
  t.notOk(legacy.headers.ratelimit)
  const legacyDenied = await app.inject('/legacy')
  t.match(legacyDenied.headers['retry-after'], /^[1-9]\d*$/)
  t.equal(legacyDenied.headers['x-ratelimit-remaining'], '0')

  const none = await app.inject('/none')
  t.notOk(none.headers['x-ratelimit-limit'])
  t.notOk(none.headers.ratelimit)
  const noneDenied = await app.inject('/none')
  t.equal(noneDenied.statusCode, 429)
  t.notOk(noneDenied.headers['retry-after'], 'headers: false sends no Retry-After either')

  t.equal((await app.inject('/named')).headers['x-quota'], '5')
  t.match((await app.inject('/plugin')).headers.ratelimit, /^"ip-5\/min";r=4;t=\d+$/)
  t.match((await app.inject('/global')).headers.ratelimit, /^"ip-10\/min";r=\d+;t=\d+$/)
  t.match((await app.inject('/hooked')).headers.ratelimit, /^"ip-5\/min";r=4;t=\d+$/)
})

t.test('a route may turn headers on when the plugin has them off', async (t) => {
  const { app } = await build({ headers: false })
  app.get('/on', { config: { rateLimit: { ip: '3/min', headers: 'draft-6' } } }, ok)
  app.get('/off', { config: { rateLimit: '3/min' } }, ok)
  t.equal((await app.inject('/on')).headers['ratelimit-limit'], '3')
  t.notOk((await app.inject('/off')).headers['ratelimit-limit'])
})

t.test('bad route headers and errorFormat are coded route errors naming the option', async (t) => {
  const { app } = await build()
  const cases: Array<[unknown, RegExp]> = [
    [{ ip: '1/s', headers: 'draft7' }, /^Route GET \/x: config\.rateLimit\.headers: expected 'legacy', 'ietf', false, 'draft-6', 'draft-7', 'draft-8', 'draft-10', or .* received 'draft7'$/],
    [{ ip: '1/s', errorFormat: 'json' }, /^Route GET \/x: config\.rateLimit\.errorFormat: expected one of 'plain', 'problem', received 'json'$/]
  ]
  for (const [rateLimit, message] of cases) {
    let err: (Error & { code?: string }) | undefined
    try {
      app.get('/x', { config: { rateLimit: rateLimit as never } }, ok)
    } catch (e) {
      err = e as Error & { code?: string }
    }
    t.equal(err?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG', JSON.stringify(rateLimit))
    t.match(err?.message, message)
  }
})
