import t from 'tap'
import Fastify from 'fastify'
import limiter, { MemoryStore } from '../../index.js'
import { build, hit } from '../support/helpers.js'

const ok = async () => ({ ok: true })

t.test('bad plugin options are coded errors at register, naming the option and the value', async (t) => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ algorithm: 'magic' }, 'FST_LIMITER_INVALID_OPTION', /^fastify-limiter option algorithm: expected one of .* received 'magic'$/],
    [{ hook: 'onSend' }, 'FST_LIMITER_INVALID_OPTION', /option hook: expected one of 'onRequest'/],
    [{ keyPrefix: 'a{b}' }, 'FST_LIMITER_INVALID_OPTION', /option keyPrefix: expected up to 64 characters/],
    [{ headers: 'draft7' }, 'FST_LIMITER_INVALID_OPTION', /option headers: expected 'legacy', 'ietf', false/],
    [{ headers: { limit: 'x', other: 'y' } }, 'FST_LIMITER_INVALID_OPTION', /^fastify-limiter option headers\.other: expected a known option \(limit, remaining, reset, retryAfter\), received an unknown option$/],
    [{ user: 'id' }, 'FST_LIMITER_INVALID_OPTION', /option user: expected a function/],
    [{ errorResponseBuilder: {} }, 'FST_LIMITER_INVALID_OPTION', /option errorResponseBuilder: expected a function/],
    [{ exempt: '127.0.0.1' }, 'FST_LIMITER_INVALID_OPTION', /option exempt: expected an array of IPs and CIDRs/],
    [{ exempt: ['localhost'] }, 'FST_LIMITER_INVALID_OPTION', /option exempt\[0\]: expected an IP or CIDR .* received 'localhost'$/],
    [{ exempt: ['10.0.0.0/33'] }, 'FST_LIMITER_INVALID_OPTION', /option exempt\[0\]/],
    [{ exempt: ['::1', 'fe80::/129'] }, 'FST_LIMITER_INVALID_OPTION', /option exempt\[1\]/],
    [{ exempt: ['10.0.0.0/x'] }, 'FST_LIMITER_INVALID_OPTION', /option exempt\[0\]/],
    [{ dryRun: 1 }, 'FST_LIMITER_INVALID_OPTION', /option dryRun: expected true or false, received 1$/],
    [{ ipv6Subnet: 0 }, 'FST_LIMITER_INVALID_OPTION', /option ipv6Subnet: expected an integer from 1 to 128, received 0$/],
    [{ ipv6Subnet: 129 }, 'FST_LIMITER_INVALID_OPTION', /option ipv6Subnet/],
    [{ onExceeded: true }, 'FST_LIMITER_INVALID_OPTION', /option onExceeded: expected a function/],
    [{ clock: 5 }, 'FST_LIMITER_INVALID_OPTION', /option clock: expected a function/],
    [{ store: 'memory' }, 'FST_LIMITER_INVALID_OPTION', /option store: expected a store instance/],
    [{ store: { consume () {} } }, 'FST_LIMITER_INVALID_STORE', /the store lacks reset\(\), clear\(\), stats\(\), close\(\)$/],
    [{ maxKeys: 5 }, 'FST_LIMITER_INVALID_OPTION', /option maxKeys: expected a known option .* received an unknown option$/],
    [{ global: '5/lightyear' }, 'FST_LIMITER_INVALID_RATE', /^fastify-limiter option: global: '5\/lightyear' is not a rate/],
    [{ global: { ip: '1/s', nope: 1 } }, 'FST_LIMITER_INVALID_OPTION', /^fastify-limiter option global\.nope: expected a known option \(ip, user, .*\), received an unknown option$/],
    [{ global: false }, 'FST_LIMITER_INVALID_OPTION', /^fastify-limiter option global: expected a rate string like '10\/min' or an object with ip, .* received false$/],
    [{ global: { ip: '1/s', burst: 5 } }, 'FST_LIMITER_INVALID_OPTION', /^fastify-limiter option global\.burst: expected no burst with sliding-window \(burst applies to token-bucket, leaky-bucket and gcra\), received 5$/]
  ]
  for (const [options, code, message] of cases) {
    const app = Fastify()
    const err = await app.register(limiter, options as never).ready().then(() => undefined, (e) => e)
    t.equal(err?.code, code, JSON.stringify(options))
    t.match(err?.message, message)
    await app.close()
  }
})

t.test('a non-object options value is refused', async (t) => {
  const app = Fastify()
  const err = await app.register(limiter, 5 as never).ready().then(() => undefined, (e) => e)
  t.equal(err?.code, 'FST_LIMITER_INVALID_OPTION')
  t.equal(err?.message, 'fastify-limiter options: expected an object, received 5')
  await app.close()
})

t.test("Fastify's own register options are accepted and ignored", async (t) => {
  const app = Fastify()
  await app.register(limiter, { prefix: '/x', logLevel: 'warn' } as never)
  app.get('/r', { config: { rateLimit: '1/min' } }, ok)
  t.same(await hit(app, '/r', 2), [200, 429])
  await app.close()
})

t.test('the caller\'s options object is not mutated', async (t) => {
  const options = Object.freeze({ global: Object.freeze({ ip: Object.freeze(['1/s', '5/min']) }), headers: 'ietf' as const })
  const { app } = await build(options as never)
  app.get('/r', ok)
  t.same(await hit(app, '/r', 2), [200, 429])
})

t.test('the default algorithm is sliding-window; a plugin-level algorithm applies to every route', async (t) => {
  const fixed = await build({ algorithm: 'fixed-window' })
  fixed.app.get('/r', { config: { rateLimit: '2/min' } }, ok)
  const sliding = await build()
  sliding.app.get('/r', { config: { rateLimit: '2/min' } }, ok)
  for (const { app, clock } of [fixed, sliding]) {
    await hit(app, '/r', 2)
    clock.advance(40_000) // into the next aligned minute (the clock starts 20 s into one)
  }
  t.same(await hit(fixed.app, '/r', 1), [200], 'fixed window: a new window, a new count')
  t.same(await hit(sliding.app, '/r', 1), [429], 'sliding window: the previous window still weighs')
})

t.test('the plugin closes the store it created, not one it was given', async (t) => {
  const given = new MemoryStore()
  let closed = 0
  const original = given.close.bind(given)
  given.close = () => { closed++; original() }
  const app = Fastify()
  await app.register(limiter, { store: given })
  await app.close()
  t.equal(closed, 0)
  given.close()
  t.equal(closed, 1)
})

t.test('plugin metadata', async (t) => {
  const meta = (limiter as unknown as Record<symbol, { name: string, fastify: string }>)[Symbol.for('plugin-meta')]
  t.equal(meta.name, 'fastify-limiter')
  t.equal(meta.fastify, '5.x')
  const app = Fastify()
  await app.register(limiter)
  t.ok(app.hasDecorator('rateLimit'))
  t.ok(app.hasRequestDecorator('rateLimit'))
  await t.rejects(async () => { await app.register(limiter).ready() }, 'registering twice is refused by fastify-plugin')
  await app.close()
})
