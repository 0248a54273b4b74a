import t from 'tap'
import Fastify from 'fastify'
import limiter from '../../index.js'
import type { FastifyLimiterOptions } from '../../index.js'
import { MAX_RATE_LIMIT } from '../../lib/config/rate.js'
import { build, hit } from '../support/helpers.js'

const ok = async () => ({ ok: true })

/** The error `register` fails with, or undefined. */
async function registerError (options: unknown): Promise<(Error & { code?: string }) | undefined> {
  const app = Fastify()
  const err = await app.register(limiter, options as FastifyLimiterOptions).ready().then(() => undefined, (e: Error) => e)
  await app.close()
  return err
}

t.test('custom header names must be HTTP field names: checked at registration, naming the option', async (t) => {
  const bad: Array<[Record<string, string>, string]> = [
    [{ limit: 'X Rate Limit' }, 'limit'],
    [{ remaining: 'x-left\r\nset-cookie: a=b' }, 'remaining'],
    [{ reset: 'x-reset\n' }, 'reset'],
    [{ retryAfter: 'retry:after' }, 'retryAfter'],
    [{ limit: '' }, 'limit'],
    [{ limit: 'x-grenzwert-ü' }, 'limit']
  ]
  for (const [headers, key] of bad) {
    const err = await registerError({ headers })
    t.equal(err?.code, 'FST_LIMITER_INVALID_OPTION', JSON.stringify(headers))
    t.match(err?.message, new RegExp(`^fastify-limiter option headers\\.${key}: expected an HTTP field name`))
  }
  const { app } = await build()
  let err: (Error & { code?: string }) | undefined
  try {
    app.get('/x', { config: { rateLimit: { ip: '1/s', headers: { limit: 'X Rate Limit' } } } }, ok)
  } catch (e) {
    err = e as Error & { code?: string }
  }
  t.equal(err?.code, 'FST_LIMITER_INVALID_ROUTE_CONFIG')
  t.match(err?.message, /^Route GET \/x: config\.rateLimit\.headers\.limit: expected an HTTP field name.*received 'X Rate Limit'$/)
})

t.test('every token character is a valid name, and such names are sent', async (t) => {
  const name = "x-!#$%&'*+.^_`|~-limit9"
  const { app } = await build({ headers: { limit: name } })
  app.get('/r', { config: { rateLimit: '2/min' } }, ok)
  const res = await app.inject('/r')
  t.equal(res.statusCode, 200)
  t.equal(res.headers[name], '2')
})

t.test('a limit too large for a RateLimit header is refused at registration, naming the route and option', async (t) => {
  const { app } = await build()
  for (const [rate, path] of [['1000000000000000/ms', 'config.rateLimit'], [{ limit: MAX_RATE_LIMIT + 1, windowMs: 1 }, 'config.rateLimit.ip']] as const) {
    let err: (Error & { code?: string }) | undefined
    try {
      app.get('/big', { config: { rateLimit: typeof rate === 'string' ? rate : { ip: rate } } }, ok)
    } catch (e) {
      err = e as Error & { code?: string }
    }
    t.equal(err?.code, 'FST_LIMITER_INVALID_RATE', JSON.stringify(rate))
    t.equal(err?.message.startsWith(`Route GET /big: ${path}: `), true, err?.message ?? 'no error')
    t.match(err?.message, /the count must be at most 999999999999999, the largest number a RateLimit header can carry/)
  }
  const global = await registerError({ global: '1000000000000000/ms' })
  t.equal(global?.code, 'FST_LIMITER_INVALID_RATE')
  t.match(global?.message, /^fastify-limiter option: global: /)
})

t.test('the largest limit is written by every header format', async (t) => {
  for (const headers of ['legacy', 'ietf', 'draft-6', 'draft-7', 'draft-8', 'draft-10'] as const) {
    const { app } = await build({ headers })
    app.get('/r', { config: { rateLimit: `${MAX_RATE_LIMIT}/ms` } }, ok)
    const res = await app.inject('/r')
    t.equal(res.statusCode, 200, headers)
    t.match(JSON.stringify(res.headers), String(MAX_RATE_LIMIT - 1), `${headers} carries the remaining count`)
  }
})

t.test('friendlier units: mins, secs, hrs, msec and any case, as fastlimit accepts them', async (t) => {
  const { app } = await build({ algorithm: 'fixed-window' })
  app.get('/a', { config: { rateLimit: '2/MIN' } }, ok)
  app.get('/b', { config: { rateLimit: { ip: ['2/5mins', '10/Hrs', '100/2secs', '1000/500msec'] } } }, ok)
  t.same(await hit(app, '/a', 3), [200, 200, 429])
  t.same(await hit(app, '/b', 3), [200, 200, 429])
  t.equal((await app.inject('/a')).headers['x-ratelimit-limit'], '2')
})

t.test("an unknown unit says so and lists the units: 'fortnight' is not a unit", async (t) => {
  const { app } = await build()
  let err: (Error & { code?: string }) | undefined
  try {
    app.get('/x', { config: { rateLimit: '10/fortnight' } }, ok)
  } catch (e) {
    err = e as Error & { code?: string }
  }
  t.equal(err?.code, 'FST_LIMITER_INVALID_RATE')
  t.equal(err?.message, "Route GET /x: config.rateLimit: '10/fortnight' is not a rate like '10/min' or '3/5min' " +
    "('fortnight' is not a unit; units: ms, msec, s, sec, secs, second, seconds, m, min, mins, minute, minutes, h, hr, hrs, hour, hours, d, day, days)")
})
