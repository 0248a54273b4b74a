import t from 'tap'
import type { Test } from 'tap'
import { build, captureLog, hit } from '../support/helpers.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { hashIdentity } from '../../lib/observe/logging.js'

const ok = async () => ({ ok: true })

const denials = (lines: Array<Record<string, any>>) => lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('rate limit exceeded'))

async function limited (t: Test, options: FastifyLimiterOptions, level: string, headers: Record<string, string> = {}) {
  const { lines, logger } = captureLog(level)
  const { app } = await build(options, { logger })
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  app.get('/dry', { config: { rateLimit: { ip: '1/min', dryRun: true } } }, ok)
  t.same(await hit(app, '/r', 2, headers), [200, 429])
  t.same(await hit(app, '/dry', 2, headers), [200, 200])
  return denials(lines)
}

t.test('by default denials log at debug and dry-run denials at warn, with a hashed identity', async (t) => {
  const lines = await limited(t, {}, 'debug')
  t.equal(lines.length, 2)
  const [denied, dry] = lines
  t.equal(denied.level, 20, 'debug')
  t.equal(denied.msg, 'rate limit exceeded')
  t.match(denied.rateLimit, { route: 'GET /r', bucket: 'ip', rate: '1/min', limit: 1, remaining: 0, dryRun: false })
  t.ok(denied.rateLimit.retryAfterMs > 0)
  t.match(denied.rateLimit.identity, /^[0-9a-f]{16}$/)
  t.notMatch(JSON.stringify(lines), /127\.0\.0\.1"/, 'the raw IP is in no line')
  t.ok(denied.reqId, 'logged through request.log: the line has the request id')
  t.equal(dry.level, 40, 'warn')
  t.equal(dry.msg, 'rate limit exceeded (dry run: request allowed)')
  t.equal(dry.rateLimit.identity, denied.rateLimit.identity, 'one client, one hash')
})

t.test('at Fastify\'s default level (info) a 429 logs nothing; a dry-run denial still warns', async (t) => {
  const lines = await limited(t, {}, 'info')
  t.same(lines.map((l) => l.msg), ['rate limit exceeded (dry run: request allowed)'])
})

t.test('log: { denied, dryRun, identity } sets the levels and how the client appears', async (t) => {
  const raw = await limited(t, { log: { denied: 'info', dryRun: false, identity: 'raw' } }, 'info')
  t.equal(raw.length, 1, 'dry-run denials not logged')
  t.equal(raw[0].level, 30)
  t.equal(raw[0].rateLimit.identity, '127.0.0.1')
  const none = await limited(t, { log: { denied: 'error', identity: false } }, 'info')
  t.equal(none[0].level, 50)
  t.notOk('identity' in none[0].rateLimit)
  const off = await limited(t, { log: { denied: false, dryRun: false } }, 'trace')
  t.same(off, [])
})

t.test('hashes differ per client and per plugin instance (a random key), and cannot be guessed from the IP', async (t) => {
  const a = await limited(t, { user: (r) => r.headers['x-user'] as string | undefined }, 'debug', { 'x-user': 'alice' })
  const b = await limited(t, {}, 'debug')
  t.not(a[0].rateLimit.identity, b[0].rateLimit.identity)
  const key = Buffer.alloc(32, 1)
  t.equal(hashIdentity('127.0.0.1', key), hashIdentity('127.0.0.1', key))
  t.not(hashIdentity('127.0.0.1', key), hashIdentity('127.0.0.2', key))
  t.not(hashIdentity('127.0.0.1', key), hashIdentity('127.0.0.1', Buffer.alloc(32, 2)))
  const c = await limited(t, {}, 'debug')
  t.not(c[0].rateLimit.identity, b[0].rateLimit.identity, 'same IP, another instance: another hash')
})

t.test('nothing reaches the console, with or without a logger', async (t) => {
  const calls: unknown[] = []
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const
  const saved = methods.map((m) => console[m])
  for (const m of methods) console[m] = (...args: unknown[]) => { calls.push(args) }
  try {
    const { app } = await build({ log: { denied: 'fatal' } })
    app.get('/r', { config: { rateLimit: { ip: '1/min', dryRun: true } } }, ok)
    app.get('/s', { config: { rateLimit: '1/min' } }, ok)
    await hit(app, '/r', 3)
    await hit(app, '/s', 3)
  } finally {
    methods.forEach((m, i) => { console[m] = saved[i] })
  }
  t.same(calls, [])
})

t.test('bad log options fail at registration', async (t) => {
  for (const log of [true, { denied: 'loud' }, { dryRun: 'verbose' }, { identity: 'ip' }, { level: 'info' }]) {
    const err = await build({ log } as never).then(() => undefined, (e) => e)
    t.equal(err?.code, 'FST_LIMITER_INVALID_OPTION', JSON.stringify(log))
    t.match(err?.message, /fastify-limiter option log/)
  }
})

t.test('loggers without isLevelEnabled: the disabled one costs nothing, a real one still logs', async (t) => {
  const quiet = await build({})
  quiet.app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  await quiet.app.inject('/r')
  t.equal((await quiet.app.inject('/r')).statusCode, 429, 'denied with Fastify\'s disabled logger, nothing to log')

  const written: Array<[string, unknown]> = []
  const custom = {
    fatal: (o: unknown) => { written.push(['fatal', o]) },
    error: (o: unknown) => { written.push(['error', o]) },
    warn: (o: unknown) => { written.push(['warn', o]) },
    info: (o: unknown) => { written.push(['info', o]) },
    debug: (o: unknown) => { written.push(['debug', o]) },
    trace: (o: unknown) => { written.push(['trace', o]) },
    child () { return custom },
    level: 'debug'
  }
  const loud = await build({ log: { denied: 'info' } }, { loggerInstance: custom as never })
  loud.app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  await loud.app.inject('/r')
  await loud.app.inject('/r')
  const line = written.find(([level, o]) => level === 'info' && (o as { rateLimit?: unknown }).rateLimit !== undefined)
  t.ok(line, 'a logger without isLevelEnabled whose methods are real still gets the line')
  t.match(line?.[1], { rateLimit: { route: 'GET /r', identity: /^[0-9a-f]{16}$/ } })
})
