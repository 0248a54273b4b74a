// Issue 12, bans with backoff: after `after` denials of one identity within one window of its
// limit, every request of that identity gets the ban's status (403) with Retry-After until the
// ban ends; each further ban lasts `backoff` times longer, up to `max`; `onBan` once per ban.
// On memory, SQLite (a real file) and Redis (a real server), on an injected clock.
import t from 'tap'
import type { Test } from 'tap'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { RedisStore } from '../../stores/redis.js'
import { SqliteStore } from '../../stores/sqlite.js'
import type { FastifyLimiterOptions, LimitContext, Store } from '../../index.js'
import { build } from '../support/helpers.js'
import type { Clock } from '../support/helpers.js'
import { tempDir } from '../support/sqlite.js'
import { connect, redisAvailable, startRedis } from '../support/redis.js'

interface Answer {
  status: number
  retryAfter: string | undefined
  banned: boolean | undefined
  body: { statusCode: number, error: string, message: string }
}

async function get (app: FastifyInstance, url = '/r', ip = '10.0.0.1'): Promise<Answer> {
  const res = await app.inject({ url, remoteAddress: ip })
  return {
    status: res.statusCode,
    retryAfter: res.headers['retry-after'] as string | undefined,
    banned: res.headers['x-banned'] === undefined ? undefined : res.headers['x-banned'] === 'true',
    body: res.json()
  }
}

/** An app whose `/r` has `limit`; `x-banned` echoes `request.rateLimit.banned`. */
async function banApp (t: Test, options: FastifyLimiterOptions, limit: object): Promise<{ app: FastifyInstance, clock: Clock }> {
  const built = await build({ algorithm: 'fixed-window', ...options })
  t.teardown(() => built.app.close())
  built.app.addHook('onSend', async (request, reply) => {
    if (request.rateLimit?.banned !== undefined) reply.header('x-banned', String(request.rateLimit.banned))
  })
  built.app.get('/r', { config: { rateLimit: limit } }, async () => ({ ok: true }))
  return built
}

async function suite (t: Test, name: string, makeStore: () => Promise<Store | undefined>): Promise<void> {
  const options = async (): Promise<FastifyLimiterOptions> => {
    const store = await makeStore()
    return store === undefined ? {} : { store }
  }

  t.test(`${name}: the after-th denial within a window is answered as banned, with Retry-After until the ban ends`, async (t) => {
    const { app, clock } = await banApp(t, await options(), { ip: '2/min', ban: { after: 3, for: '5min' } })
    t.same((await Promise.all([get(app), get(app)])).map((a) => a.status), [200, 200])
    const first = await get(app)
    t.equal(first.status, 429, 'the first denial: an ordinary 429')
    t.equal(first.banned, undefined, 'not banned')
    t.equal((await get(app)).status, 429, 'the second denial')
    const third = await get(app)
    t.equal(third.status, 403, 'the third denial starts the ban and is answered as banned')
    t.equal(third.retryAfter, '300', 'Retry-After: the ban, 5 minutes')
    t.equal(third.banned, true, 'request.rateLimit.banned')
    t.equal(third.body.error, 'Forbidden')
    t.match(third.body.message, /^Banned after repeated requests over the rate limit, retry in 5 minutes$/)
    clock.advance(60_000)
    const later = await get(app)
    t.equal(later.status, 403, 'the rate has room again, the identity is still banned')
    t.equal(later.retryAfter, '240', 'Retry-After counts down')
    t.equal((await get(app, '/r', '10.0.0.2')).status, 200, 'another identity is not banned')
    clock.advance(240_000 - 1)
    t.equal((await get(app)).retryAfter, '1', '1 ms before the end: still banned')
    clock.advance(1)
    t.equal((await get(app)).status, 200, 'the ban is over')
  })

  t.test(`${name}: each further ban lasts backoff times longer, up to max`, async (t) => {
    const { app, clock } = await banApp(t, await options(), { ip: '1/hour', ban: { after: 1, for: '10s', backoff: 3, max: '1min' } })
    t.equal((await get(app)).status, 200)
    const lengths: string[] = []
    for (let i = 0; i < 4; i++) {
      const banned = await get(app)
      t.equal(banned.status, 403, `ban ${i + 1}`)
      lengths.push(banned.retryAfter as string)
      // the ban is over: the next denial (the rate allows 1/hour) starts the next ban at once
      clock.advance(Number(banned.retryAfter) * 1000)
    }
    t.same(lengths, ['10', '30', '60', '60'], '10 s, 30 s, then capped at 1 minute')
  })

  t.test(`${name}: a client that stays clean as long as its last ban lasted is forgiven`, async (t) => {
    const { app, clock } = await banApp(t, await options(), { ip: '1/hour', ban: { after: 1, for: '10s', backoff: 2, max: '1h' } })
    t.equal((await get(app)).status, 200)
    t.equal((await get(app)).retryAfter, '10', 'first ban: 10 s')
    clock.advance(10_000 + 10_000 - 1)
    t.equal((await get(app)).retryAfter, '20', 'offending again within 10 s of the end: twice as long')
    clock.advance(20_000 + 20_000)
    t.equal((await get(app)).retryAfter, '10', 'offending again 20 s after a ban of 20 s: forgiven, back to 10 s')
  })

  t.test(`${name}: denials further apart than the window do not add up to a ban`, async (t) => {
    const { app, clock } = await banApp(t, await options(), { ip: '1/min', ban: { after: 2, for: '1min' } })
    t.equal((await get(app)).status, 200)
    t.equal((await get(app)).status, 429, 'strike 1')
    clock.advance(60_000)
    t.equal((await get(app)).status, 200, 'a new window')
    t.equal((await get(app)).status, 429, 'strike 1 again: the first one was a window ago')
    t.equal((await get(app)).status, 403, 'strike 2 within the window: banned')
  })

  t.test(`${name}: onBan is called exactly once per ban, with concurrent requests`, async (t) => {
    const told: LimitContext[] = []
    const { app } = await banApp(t, { ...await options(), onBan: (_request, context) => { told.push(context) } }, { ip: '1/min', ban: { after: 2, for: '1min' } })
    t.equal((await get(app)).status, 200)
    const answers = await Promise.all(Array.from({ length: 20 }, async () => await get(app)))
    const statuses = answers.map((a) => a.status)
    t.equal(statuses.filter((s) => s === 429).length, 1, 'one ordinary 429: the first strike')
    t.equal(statuses.filter((s) => s === 403).length, 19, 'then every request banned')
    t.equal(told.length, 1, 'onBan once')
    t.equal(told[0].statusCode, 403)
    t.equal(told[0].banned, true)
    t.equal(told[0].retryAfter, 60)
    const stats = await app.rateLimit.stats()
    t.equal(stats.banned, 19, 'stats: requests answered as banned')
    t.equal(stats.bans, 1, 'stats: bans started')
    t.equal(stats.routes['GET /r'].bans, 1)
    t.equal(stats.routes['GET /r'].banned, 19)
  })

  t.test(`${name}: a failing onBan is logged and never changes the answer`, async (t) => {
    const lines: Array<{ msg: string, err?: { message: string } }> = []
    const stream = { write: (line: string) => { lines.push(JSON.parse(line)) } }
    const built = await build({
      algorithm: 'fixed-window',
      ...await options(),
      onBan: (request) => {
        if (request.headers['x-reject'] === '1') return Promise.reject(new Error('rejected'))
        throw new Error('thrown')
      }
    }, { logger: { level: 'error', stream } })
    const { app } = built
    t.teardown(() => app.close())
    app.get('/r', { config: { rateLimit: { ip: '1/min', ban: { after: 1, for: '1min' } } } }, async () => ({ ok: true }))
    await app.inject({ url: '/r', remoteAddress: '10.0.0.1' })
    const thrown = await app.inject({ url: '/r', remoteAddress: '10.0.0.1' })
    t.equal(thrown.statusCode, 403, 'onBan threw: still banned')
    await app.inject({ url: '/r', remoteAddress: '10.0.0.2' })
    const rejected = await app.inject({ url: '/r', remoteAddress: '10.0.0.2', headers: { 'x-reject': '1' } })
    t.equal(rejected.statusCode, 403, 'onBan rejected: still banned')
    await new Promise((resolve) => setImmediate(resolve))
    const failures = lines.filter((l) => l.msg === 'fastify-limiter: onBan failed').map((l) => l.err?.message)
    t.same(failures, ['thrown', 'rejected'], 'both failures logged')
  })

  t.test(`${name}: peek says banned while the identity is banned`, async (t) => {
    const { app, clock } = await banApp(t, await options(), { ip: '2/min', ban: { after: 1, for: '10min' } })
    await get(app)
    await get(app)
    t.equal((await get(app)).status, 403)
    clock.advance(60_000)
    const peeked = await app.rateLimit.peek({ route: 'GET /r', ip: '10.0.0.1' })
    t.equal(peeked?.banned, true, 'banned, though the rate has room again')
    t.equal(peeked?.allowed, false)
    t.equal(peeked?.retryAfterMs, 540_000)
    const other = await app.rateLimit.peek({ route: 'GET /r', ip: '10.0.0.2' })
    t.equal(other?.banned, undefined, 'a clean identity: not banned')
    t.equal(other?.allowed, true)
  })

  t.test(`${name}: peek says banned when a rate's longer denial would be picked`, async (t) => {
    const { app } = await banApp(t, await options(), { ip: '1/hour', ban: { after: 1, for: '1min' } })
    await get(app)
    t.equal((await get(app)).retryAfter, '60', 'banned for 1 minute, though the rate denies for longer')
    const peeked = await app.rateLimit.peek({ route: 'GET /r', ip: '10.0.0.1' })
    t.equal(peeked?.banned, true)
    t.equal(peeked?.retryAfterMs, 60_000)
  })

  t.test(`${name}: reset() and clear() forget bans`, async (t) => {
    const { app } = await banApp(t, await options(), { ip: '1/min', ban: { after: 1, for: '1h' } })
    await get(app)
    t.equal((await get(app)).status, 403)
    await app.rateLimit.reset({ ip: '10.0.0.1' })
    t.equal((await get(app)).status, 200, 'reset: the ban and the bucket are forgotten')
    t.equal((await get(app)).status, 403)
    await app.rateLimit.clear()
    t.equal((await get(app)).status, 200, 'clear: forgotten')
  })

  t.test(`${name}: dry run tells onBan and answers nothing as banned`, async (t) => {
    const told: LimitContext[] = []
    const { app } = await banApp(t, { ...await options(), onBan: (_request, context) => { told.push(context) } },
      { ip: '1/min', dryRun: true, ban: { after: 1, for: '1h' } })
    const answers = [await get(app), await get(app), await get(app)]
    t.same(answers.map((a) => a.status), [200, 200, 200], 'never answered as banned')
    t.same(answers.map((a) => a.banned), [undefined, true, true], 'request.rateLimit.banned: would have been')
    t.equal(told.length, 1, 'onBan told once')
    t.equal(told[0].dryRun, true)
  })

  t.test(`${name}: extend: every request during a ban starts it again; onBan once; Retry-After the new end`, async (t) => {
    const told: LimitContext[] = []
    const { app, clock } = await banApp(t, { ...await options(), onBan: (_request, context) => { told.push(context) } },
      { ip: '2/s', ban: { after: 1, for: '10s', extend: true } })
    t.same([(await get(app)).status, (await get(app)).status], [200, 200])
    const first = await get(app)
    t.same([first.status, first.retryAfter, first.banned], [403, '10', true], 'the first denial starts the ban')
    clock.advance(6_000)
    t.same([(await get(app)).status, (await get(app)).retryAfter], [403, '10'], '6 s in, the rate has room: banned, for 10 s again')
    t.equal((await get(app, '/r', '10.0.0.2')).status, 200, 'another identity is not banned')
    clock.advance(9_999)
    t.same([(await get(app)).status, (await get(app)).retryAfter], [403, '10'], '1 ms before the end: banned, and started again')
    const peeked = await app.rateLimit.peek({ route: 'GET /r', ip: '10.0.0.1' })
    t.same([peeked?.banned, peeked?.retryAfterMs], [true, 10_000], 'peek says so, and restarts nothing')
    clock.advance(10_000)
    t.equal((await get(app)).status, 200, 'a whole ban away from the last request: free')
    t.equal(told.length, 1, 'onBan once: one ban, however often it started again')
    const stats = await app.rateLimit.stats()
    t.same([stats.bans, stats.banned], [1, 5], 'one ban, five banned answers')
  })

  t.test(`${name}: extend keeps a ban's level: backoff lengthens the next ban, not the restarts`, async (t) => {
    const told: LimitContext[] = []
    const { app, clock } = await banApp(t, { ...await options(), onBan: (_request, context) => { told.push(context) } },
      { ip: '1/hour', ban: { after: 1, for: '10s', backoff: 2, max: '1h', extend: true } })
    t.equal((await get(app)).status, 200)
    t.equal((await get(app)).retryAfter, '10', 'the first ban: 10 s')
    clock.advance(5_000)
    t.equal((await get(app)).retryAfter, '10', 'restarted: 10 s again, not 20')
    clock.advance(10_000)
    t.equal((await get(app)).retryAfter, '20', 'over, and the rate still denies: the second ban, twice as long')
    clock.advance(19_000)
    t.equal((await get(app)).retryAfter, '20', 'restarted at its own length')
    t.same(told.map((c) => c.retryAfter), [10, 20], 'onBan once per ban')
  })

  t.test(`${name}: a route without a ban is never banned, and a clean identity has no ban state`, async (t) => {
    const store = await makeStore()
    const { app } = await banApp(t, store === undefined ? {} : { store }, { ip: '1/min', ban: { after: 1, for: '1h' } })
    app.get('/plain', { config: { rateLimit: '1/min' } }, async () => ({ ok: true }))
    // SQLite's `keys` counts rows live on the real clock; `rows` counts them all
    const held = async () => { const s = (await app.rateLimit.stats()).store as { keys: number, rows?: number }; return s.rows ?? s.keys }
    t.equal((await get(app)).status, 200)
    t.equal(await held(), 1, 'only the rate bucket: the gate wrote nothing')
    t.same([(await get(app, '/plain')).status, (await get(app, '/plain')).status, (await get(app, '/plain')).status], [200, 429, 429])
    t.equal(await held(), 2, 'no ban state for a route without a ban')
    t.equal((await get(app)).status, 403)
    t.equal(await held(), 3, 'the ban state, once banned')
  })
}

// the server first: the suites' tests are queued at once, and the file's test ends when they are done
const server = redisAvailable(t) ? await startRedis(t) : undefined
await suite(t, 'memory', async () => undefined)
const dir = tempDir(t)
let files = 0
await suite(t, 'SQLite', async () => {
  const store = new SqliteStore({ path: join(dir, `ban-${++files}.db`) })
  t.teardown(() => store.close())
  return store
})
if (server !== undefined) {
  let prefixes = 0
  await suite(t, 'Redis', async () => new RedisStore({ client: connect(t, server.port), keyPrefix: `ban${++prefixes}:` }))
}
