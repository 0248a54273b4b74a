// @fastify/rate-limit's `continueExceeding` (a client that keeps knocking stays limited) is
// `ban: { after: 1, for: <the window>, extend: true, statusCode: 429 }` here (issue 20, item 2).
// Its test cases that set continueExceeding (test/global-rate-limit, route-rate-limit and
// redis-rate-limit, test/github-issues/issue-207 and issue-284, create-rate-limit's peek), ported
// to what the same client sees here, on memory, SQLite and Redis, on an injected clock. FRL's
// `x-ratelimit-reset` is seconds until the reset, ours epoch seconds: both say the same instant.
// What differs is said where it shows: the body's message says "Banned".
import t from 'tap'
import type { Test } from 'tap'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { RedisStore } from '../../stores/redis.js'
import { SqliteStore } from '../../stores/sqlite.js'
import type { FastifyLimiterOptions, Store } from '../../index.js'
import { build } from '../support/helpers.js'
import type { Clock } from '../support/helpers.js'
import { tempDir } from '../support/sqlite.js'
import { connect, redisAvailable, startRedis } from '../support/redis.js'

/** `max: 1, timeWindow: 5000, continueExceeding: true`, as this plugin says it. */
const CONTINUE = { ip: '1/5s', ban: { after: 1, for: '5s', extend: true, statusCode: 429 } } as const

/** The start of a window of every length these cases use (3 s and 5 s): FRL's window starts at the first request. */
const ALIGNED = 1_700_000_010_000

interface Seen { status: number, limit: unknown, remaining: unknown, resetIn: number, retryAfter: unknown, message: string }

/** A response as FRL's tests read it: the reset in seconds from now. */
async function get (app: FastifyInstance, clock: Clock): Promise<Seen> {
  const res = await app.inject('/')
  return {
    status: res.statusCode,
    limit: res.headers['x-ratelimit-limit'],
    remaining: res.headers['x-ratelimit-remaining'],
    resetIn: Number(res.headers['x-ratelimit-reset']) - Math.floor(clock.now / 1000),
    retryAfter: res.headers['retry-after'],
    message: res.statusCode === 200 ? '' : res.json().message
  }
}

async function suite (t: Test, name: string, makeStore: () => Promise<Store | undefined>): Promise<void> {
  /** An app on the store, with `plugin` options and `/` limited by `route` (none: the plugin's global limit). */
  const app = async (t: Test, plugin: FastifyLimiterOptions, route?: object): Promise<{ app: FastifyInstance, clock: Clock }> => {
    const store = await makeStore()
    const built = await build({ algorithm: 'fixed-window', ...(store === undefined ? {} : { store }), ...plugin })
    t.teardown(() => built.app.close())
    built.clock.now = ALIGNED
    built.app.get('/', route === undefined ? {} : { config: { rateLimit: route } }, async () => 'hello!')
    return built
  }

  // global-rate-limit 'When continue exceeding is on (Local)', redis-rate-limit '... (Redis)'
  t.test(`${name}: continue exceeding on, for every route: the second request is a 429 for the whole window`, async (t) => {
    const { app: a, clock } = await app(t, { global: { ip: '1/5s' }, ban: CONTINUE.ban })
    t.equal((await get(a, clock)).status, 200)
    t.match(await get(a, clock), { status: 429, limit: '1', remaining: '0', resetIn: 5, retryAfter: '5' })
  })

  // route-rate-limit 'When continue exceeding is on (Local)', redis-rate-limit '... (Redis)' under a route
  t.test(`${name}: continue exceeding on, for a route: the same`, async (t) => {
    const { app: a, clock } = await app(t, {}, CONTINUE)
    t.equal((await get(a, clock)).status, 200)
    t.match(await get(a, clock), { status: 429, limit: '1', remaining: '0', resetIn: 5, retryAfter: '5' })
  })

  // issue-207: every request over the limit starts the window again
  t.test(`${name}: every request over the limit starts the wait again; a whole window away, the client is let through`, async (t) => {
    const { app: a, clock } = await app(t, {}, CONTINUE)
    t.equal((await get(a, clock)).status, 200)
    t.match(await get(a, clock), { status: 429, resetIn: 5 })
    clock.advance(3000)
    t.match(await get(a, clock), { status: 429, limit: '1', remaining: '0', resetIn: 5 }, 'started again: 5 s from now')
    clock.advance(3000)
    t.match(await get(a, clock), { status: 429, limit: '1', remaining: '0', resetIn: 5 }, '6 s after the first denial: still limited, for 5 s again')
    clock.advance(5000)
    t.equal((await get(a, clock)).status, 200, 'a whole window after the last request: allowed')
  })

  // issue-284: the reply code is not set before the error handler runs (FRL throws the 429 to
  // it); here the 429 is sent, and an errorResponseBuilder that throws hands its error to it
  t.test(`${name}: an errorResponseBuilder that throws hands the 429 to the error handler, the reply code unset`, async (t) => {
    const { app: a, clock } = await app(t, {
      errorResponseBuilder: (_request, context) => { throw Object.assign(new Error('limited'), { statusCode: context.statusCode }) }
    }, CONTINUE)
    const seen: number[][] = []
    a.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => {
      seen.push([reply.statusCode, err.statusCode as number])
      return reply.redirect('/elsewhere')
    })
    t.equal((await get(a, clock)).status, 200)
    const second = await a.inject('/')
    t.same([second.statusCode, second.headers['x-ratelimit-limit'], second.headers['x-ratelimit-remaining']], [302, '1', '0'])
    t.same(seen, [[200, 429]], 'the handler saw the 429 and a reply code not yet set')
    clock.advance(5000)
    t.equal((await get(a, clock)).status, 200, 'a window later: allowed')
  })

  // redis-rate-limit 'Redis with continueExceeding should not always return the timeWindow as ttl'
  t.test(`${name}: below the limit the reset counts down; over it, every request waits a whole window again`, async (t) => {
    const { app: a, clock } = await app(t, {}, { ip: '2/3s', ban: { after: 1, for: '3s', extend: true, statusCode: 429 } })
    t.match(await get(a, clock), { status: 200, limit: '2', remaining: '1', resetIn: 3 })
    clock.advance(1000)
    t.match(await get(a, clock), { status: 200, limit: '2', remaining: '0', resetIn: 2 }, 'not the whole window: 2 s are left')
    const over = await get(a, clock)
    t.match(over, { status: 429, limit: '2', remaining: '0', resetIn: 3, retryAfter: '3' })
    t.equal(over.message, 'Banned after repeated requests over the rate limit, retry in 3 seconds', "FRL's says 'Rate limit exceeded, retry in 3 seconds'")
    clock.advance(1000)
    t.match(await get(a, clock), { status: 429, limit: '2', remaining: '0', resetIn: 3 }, 'a second later: 3 s again')
  })

  // redis-rate-limit 'When continue exceeding is off under route (Redis)': a route turns the plugin's off
  t.test(`${name}: a route without it, under a plugin with it: the wait counts down`, async (t) => {
    for (const ban of [false, { ...CONTINUE.ban, extend: false }]) {
      const { app: a, clock } = await app(t, { ban: CONTINUE.ban }, { ip: '1/5s', ban })
      t.equal((await get(a, clock)).status, 200)
      t.match(await get(a, clock), { status: 429, limit: '1', remaining: '0', resetIn: 5 })
      clock.advance(2000)
      t.match(await get(a, clock), { status: 429, limit: '1', remaining: '0', resetIn: 3 }, `ban: ${JSON.stringify(ban)}: not started again`)
    }
  })

  // create-rate-limit 'With { increment: false } and continueExceeding the peek mirrors the active window'
  t.test(`${name}: a peek inside the wait shows it and starts nothing again; after it, a clean state`, async (t) => {
    const { app: a, clock } = await app(t, {}, { ip: '1/s', ban: { after: 1, for: '1s', extend: true, statusCode: 429 } })
    await a.inject('/')
    clock.advance(100)
    t.equal((await a.inject('/')).statusCode, 429, 'the second request: the wait starts')
    clock.advance(100)
    const peek = async () => await a.rateLimit.peek({ route: 'GET /', ip: '127.0.0.1' })
    t.match(await peek(), { allowed: false, remaining: 0, retryAfterMs: 900, banned: true })
    t.match(await peek(), { retryAfterMs: 900 }, 'peeking again: the same, nothing started again')
    clock.advance(1000)
    const after = await peek()
    t.same([after?.allowed, after?.banned, after?.retryAfterMs], [true, undefined, 0], 'a window later: allowed, not banned')
  })
}

// the server first: the suites' tests are queued at once, and the file's test ends when they are done
const server = redisAvailable(t) ? await startRedis(t) : undefined
await suite(t, 'memory', async () => undefined)
const dir = tempDir(t)
let files = 0
await suite(t, 'SQLite', async () => {
  const store = new SqliteStore({ path: join(dir, `continue-${++files}.db`) })
  t.teardown(() => store.close())
  return store
})
if (server !== undefined) {
  let prefixes = 0
  await suite(t, 'Redis', async () => new RedisStore({ client: connect(t, server.port), keyPrefix: `continue${++prefixes}:` }))
}
