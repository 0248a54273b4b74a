// Compile-time tests, checked by `npm run typecheck` (part of `npm test`): every
// `@ts-expect-error` line must be a type error, or tsc fails ("unused directive").
import Fastify from 'fastify'
import limiter, { MemoryStore } from 'fastify-limiter'
import type { RouteShorthandOptions } from 'fastify'
import type { RateLimitDecision, LimiterStats, RouteRateLimit } from 'fastify-limiter'

const app = Fastify()
await app.register(limiter, { global: '100/min', headers: 'ietf', exempt: ['10.0.0.0/8'], store: new MemoryStore() })
const handler = async () => 'ok'

// every documented form compiles
app.get('/a', { config: { rateLimit: '10/min' } }, handler)
app.get('/b', { config: { rateLimit: '3/5min' } }, handler)
app.get('/c', { config: { rateLimit: false } }, handler)
app.get('/d', { config: { rateLimit: { ip: '5/min', user: '50/min' } } }, handler)
app.get('/e', { config: { rateLimit: { ip: ['10/s', '1000/day'] } } }, handler)
app.get('/f', { config: { rateLimit: { user: '100/hour', cost: 10 } } }, handler)
app.get('/g', { config: { rateLimit: { ip: '10/min', algorithm: 'token-bucket', burst: 30 } } }, handler)
app.get('/h', { config: { rateLimit: { key: (r) => r.headers['x-api-key'] as string | undefined, rate: '1000/hour' } } }, handler)
app.get('/i', { config: { rateLimit: { ip: { limit: 5, windowMs: 1500 }, cost: (r) => r.url.length, group: 'g', dryRun: true } } }, handler)

// Wrong ones do not, wherever TypeScript checks route options against their declared type:
// typed options (`satisfies RouteShorthandOptions`, an annotation), a route generic, or a
// `RouteRateLimit` value. (Fastify infers the route-config type from an inline options object
// with no route generic, which lets an inline mistake through the compiler; the registration
// check still throws. docs/typescript.md.)
// @ts-expect-error unknown unit
app.get('/x1', { config: { rateLimit: '10/minn' } } satisfies RouteShorthandOptions, handler)
// @ts-expect-error unknown key
app.get('/x2', { config: { rateLimit: { ip: '1/s', foo: 1 } } } satisfies RouteShorthandOptions, handler)
// @ts-expect-error unknown algorithm
app.get<{ Querystring: { q: string } }>('/x3', { config: { rateLimit: { ip: '1/s', algorithm: 'magic' } } }, handler)
// @ts-expect-error cost must be a number or a function
const x4: RouteShorthandOptions = { config: { rateLimit: { ip: '1/s', cost: '3' } } }
// @ts-expect-error true is not a limit
const x5: RouteRateLimit = true
// @ts-expect-error key must be a function
const x6: RouteRateLimit = { key: 'x-api-key', rate: '1/s' }
// @ts-expect-error not a rate
const x7: RouteRateLimit = { ip: 10 }
// @ts-expect-error a hook limit cannot be false
app.rateLimit.hook(false)
export { x4, x5, x6, x7 }

// plugin options are typed
// @ts-expect-error unknown header format
await app.register(limiter, { headers: 'draft7' })
// @ts-expect-error unknown option
await app.register(limiter, { maxKeys: 5 })

// decorators are typed
app.get('/typed', async (request) => {
  const decision: RateLimitDecision | undefined = request.rateLimit
  const stats: LimiterStats = await app.rateLimit.stats()
  await app.rateLimit.reset(request)
  await app.rateLimit.reset({ route: 'GET /a', ip: '1.2.3.4' })
  // @ts-expect-error unknown selector field
  await app.rateLimit.reset({ address: '1.2.3.4' })
  return { remaining: decision?.remaining, allowed: stats.allowed }
})
app.setNotFoundHandler({ preHandler: app.rateLimit.hook('10/min') }, handler)
