// Type tests, run by tstyche (`npm run test:types`, part of `npm test`). Unlike
// test/types/route-config.ts (checked by tsc), these assert on the types themselves and on the
// errors TypeScript raises: a wrong form must not compile.
import Fastify from 'fastify'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { Registry } from 'prom-client'
import { describe, expect, test } from 'tstyche'
import limiter, { MemoryStore } from 'fastify-limiter'
import type {
  ExceedingContext, FastifyLimiterOptions, LimitContext, LimiterStats, RateFunction, RateLimit, RateLimitApi, RateLimitDecision, RouteCounters, RouteRateLimit
} from 'fastify-limiter'

const app = Fastify()
const handler = async () => 'ok'

describe('config.rateLimit', () => {
  test('accepts every documented form', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<'10/min'>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<'3/5min'>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<'20/30s'>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<'1000/day'>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<false>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '5/min', user: '50/min' }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: ['10/s', '1000/day'] }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: { limit: 3, windowMs: 1500 } }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ user: '100/hour', cost: 10 }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '1000/hour', cost: (r: FastifyRequest) => number }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '10/min', algorithm: 'token-bucket', burst: 30 }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ key: (r: FastifyRequest) => string | undefined, rate: '1000/hour' }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '20/min', group: 'reports', dryRun: true }>()
  })

  test('a settle function and a concurrency limit alone (issue 19)', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ user: '100000/day', cost: 1000, settle: (r: FastifyRequest, reply: FastifyReply) => number }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '10/min', settle: (r: FastifyRequest) => Promise<number> }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '10/min', settle: (r: FastifyRequest) => string }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ settle: (r: FastifyRequest, reply: FastifyReply) => number }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ concurrency: { ip: 2 } }>()
    expect<RateLimitDecision['dryRun']>().type.toBe<boolean | undefined>()
  })

  test('functions may be async (issue 12)', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ key: (r: FastifyRequest) => Promise<string | undefined>, rate: '10/min' }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '10/min', cost: (r: FastifyRequest) => Promise<number> }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '10/min', cost: (r: FastifyRequest) => Promise<string> }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{
      user: (r: FastifyRequest) => Promise<string | undefined>
      exempt: (r: FastifyRequest) => Promise<boolean>
      errorResponseBuilder: (r: FastifyRequest) => Promise<{ code: string }>
      onExceeded: (r: FastifyRequest) => Promise<void>
    }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ exempt: (r: FastifyRequest) => Promise<string> }>()
  })

  test('rates decided per request (issue 12)', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ user: (r: FastifyRequest) => string | undefined }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: (r: FastifyRequest) => Promise<Array<string | { limit: number, windowMs: number }>> }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ key: (r: FastifyRequest) => string, rate: (r: FastifyRequest) => '10/min' }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ global: { ip: (r: FastifyRequest) => Promise<string> } }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: (r: FastifyRequest) => number }>()
    expect<RateFunction>().type.toBeAssignableFrom<(r: FastifyRequest) => undefined>()
  })

  test('peek (issue 12)', () => {
    expect(app.rateLimit.peek({ route: 'GET /r', ip: '127.0.0.1' })).type.toBe<Promise<RateLimitDecision | undefined>>()
    expect(app.rateLimit.peek).type.not.toBeCallableWith({ ip: '127.0.0.1' })
    expect(app.rateLimit.consume({ route: 'GET /r', ip: '127.0.0.1' })).type.toBe<Promise<RateLimitDecision | undefined>>()
    expect(app.rateLimit.consume).type.toBeCallableWith({ group: 'llm', user: 'u1' }, { cost: 500 })
    expect(app.rateLimit.consume).type.not.toBeCallableWith({ group: 'llm', user: 'u1' }, { cost: '500' })
    expect(app.rateLimit.consume).type.not.toBeCallableWith({ group: 'llm', who: 'u1' })
    expect(app.rateLimit.settle).type.toBe<(request: FastifyRequest, cost: number) => Promise<boolean>>()
  })

  test('count (issue 12)', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '5/15min', count: 'failed' }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '5/15min', count: (r: FastifyRequest, reply: FastifyReply) => Promise<boolean> }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ count: 'successful' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '5/15min', count: 'failures' }>()
  })

  test('friendlier units, in lower, upper and capitalized case', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<'10/MIN'>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<'10/Min'>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<'3/5mins'>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<'20/30secs'>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<'100/2hrs'>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<'5/500msec'>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<'10/fortnight'>()
  })

  test('headers and errorFormat per route', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '2/s', headers: false }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '2/s', headers: 'draft-8', errorFormat: 'problem' }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '2/s', headers: { limit: 'x-quota' } }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '2/s', headers: 'draft-10' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '2/s', headers: 'draft7' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '2/s', headers: 'draft-12' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '2/s', errorFormat: 'json' }>()
  })

  test('delay per route', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '2/s', delay: { maxMs: 2000 } }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '2/s', delay: { maxMs: 2000, queue: 10 } }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '2/s', delay: false }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '2/s', delay: true }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '2/s', delay: { queue: 10 } }>()
  })

  test('concurrency per route', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ user: '100/hour', concurrency: { user: 2 } }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '1/s', concurrency: { ip: 1, user: 2, key: 3 } }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', concurrency: { ip: '1' } }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', concurrency: { ips: 1 } }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', concurrency: 2 }>()
  })

  test('ban and onBan per route', () => {
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '10/min', ban: { after: 5, for: '15min' } }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '10/min', ban: { after: 3, for: 60_000, backoff: 2, max: '1d', statusCode: 429 } }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '10/min', ban: false }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '10/min', ban: { after: 1, for: 'h' }, onBan: (request: FastifyRequest, context: LimitContext) => void }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '10/min', ban: { for: '15min' } }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '10/min', ban: { after: 5, for: '15 fortnights' } }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '10/min', ban: { after: 5, for: '15min', backoff: '2' } }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '10/min', ban: true }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '10/min', ban: { after: 1, for: '1min', extend: true, statusCode: 429 } }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '10/min', ban: { after: 1, for: '1min', extend: 'yes' } }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ ban: { after: 1, for: '1min', extend: false } }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ ban: { after: 10, for: '1h' }, onBan: () => Promise<void> }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ ban: false }>()
  })

  test('rejects wrong ones', () => {
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<'10/minn'>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<'ten/min'>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<true>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<10>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: 10 }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ key: 'x-api-key', rate: '1/s' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', algorithm: 'magic' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', cost: '3' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', burst: '30' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', dryRun: 'yes' }>()
    expect<RateLimit>().type.not.toBeAssignableFrom<false>()
  })

  test('a route checks it where TypeScript checks route options', () => {
    expect(app.get('/a', { config: { rateLimit: '10/min' } } satisfies RouteShorthandOptions, handler)).type.not.toRaiseError()
    expect(app.get('/x', { config: { rateLimit: '10/minn' } } satisfies RouteShorthandOptions, handler)).type.toRaiseError("'\"10/minn\"' is not assignable")
    expect(app.get('/x', { config: { rateLimit: { ip: '1/s', foo: 1 } } } satisfies RouteShorthandOptions, handler)).type.toRaiseError("'foo' does not exist")
    expect(app.get<{ Querystring: { q: string } }>('/x', { config: { rateLimit: { ip: '1/s', algorithm: 'magic' } } }, handler)).type.toRaiseError('"magic"')
    const typed: RouteShorthandOptions = { config: { rateLimit: { ip: '1/s' } } }
    expect(typed).type.toBeAssignableTo<RouteShorthandOptions>()
    expect(app.rateLimit.hook).type.not.toBeCallableWith(false)
    expect(app.rateLimit.hook).type.toBeCallableWith({ ip: '10/min', group: 'g' })
  })
})

describe('habits of @fastify/rate-limit users (issue 20)', () => {
  test('a plugin key with its rate; a route turns it off with key: false or gives its rate alone', () => {
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ key: (r: FastifyRequest) => string | undefined, rate: '100/min' }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ key: (r: FastifyRequest) => Promise<number>, rate: (r: FastifyRequest) => '10/min' | undefined }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ key: 'x-api-key', rate: '100/min' }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '10/min', key: false }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ rate: '10/min' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '10/min', key: true }>()
  })

  test('header fields renamed or false, and deniedHeaders of the same shape', () => {
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ headers: { limit: false, reset: 'x-reset' }, deniedHeaders: 'legacy' }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '1/s', deniedHeaders: { retryAfter: false } }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '1/s', headers: false, deniedHeaders: 'draft-7' }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', deniedHeaders: { limit: true } }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', headers: { remaining: 0 } }>()
  })

  test('statusCode, onExceeding and exempt, on the plugin and on routes', () => {
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ statusCode: 503 }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ statusCode: '429' }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '1/s', statusCode: 420, exempt: ['10.0.0.0/8'] }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '1/s', exempt: (r: FastifyRequest) => Promise<boolean> }>()
    expect<RouteRateLimit>().type.not.toBeAssignableFrom<{ ip: '1/s', exempt: '10.0.0.1' }>()
    expect<RouteRateLimit>().type.toBeAssignableFrom<{ ip: '1/s', onExceeding: (r: FastifyRequest, c: ExceedingContext) => void, onExceeded: (r: FastifyRequest, c: LimitContext) => Promise<void> }>()
    expect(app.register(limiter, {
      onExceeding: (request, context) => {
        expect(context.remaining).type.toBe<number>()
        expect(context.route).type.toBe<string>()
        expect(context).type.not.toHaveProperty('statusCode')
      }
    })).type.not.toRaiseError()
  })
})

describe('plugin options', () => {
  test('accept the documented options, the ecosystem ones included', () => {
    expect(app.register(limiter, {
      store: new MemoryStore(),
      global: { ip: '300/min', user: '1000/min' },
      headers: 'ietf',
      errorFormat: 'problem',
      exempt: ['10.0.0.0/8'],
      openapi: { errorSchema: { type: 'object' } },
      metrics: { registry: new Registry(), prefix: 'api_' },
      log: { denied: 'info', dryRun: false, identity: 'hash' }
    })).type.not.toRaiseError()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ metrics: true, openapi: false }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ headers: 'draft-6' }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ headers: 'draft-7', errorFormat: 'plain' }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ headers: 'draft-10' }>()
  })

  test('reject unknown options and bad values', () => {
    expect(app.register(limiter, { maxKeys: 5 })).type.toRaiseError("'maxKeys' does not exist")
    expect(app.register(limiter, { headers: 'draft7' })).type.toRaiseError('"draft7"')
    expect(app.register(limiter, { log: { denied: 'loud' } })).type.toRaiseError('"loud"')
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ metrics: 'yes' }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ metrics: { registry: 'default' } }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ openapi: 'yes' }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ log: { identity: 'ip' } }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ errorFormat: 'rfc9457' }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ delay: { maxMs: 500 } }>()
    expect<FastifyLimiterOptions>().type.toBeAssignableFrom<{ leaseMs: 120_000 }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ leaseMs: '1min' }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ delay: false }>()
    expect<FastifyLimiterOptions>().type.not.toBeAssignableFrom<{ delay: { maxMs: '1s' } }>()
  })
})

describe('decorators', () => {
  test('fastify.rateLimit and request.rateLimit are typed', () => {
    expect(app.rateLimit).type.toBe<RateLimitApi>()
    expect(app.rateLimit.stats()).type.toBe<Promise<LimiterStats>>()
    expect<LimiterStats['routes']>().type.toBe<Record<string, RouteCounters>>()
    expect<LimiterStats['nearLimit']>().type.toBe<number>()
    expect<LimiterStats['bans']>().type.toBe<number>()
    expect(app.rateLimit.reset).type.toBeCallableWith({ route: 'GET /a', ip: '1.2.3.4' })
    expect(app.rateLimit.reset).type.not.toBeCallableWith({ address: '1.2.3.4' })
    app.get('/typed', async (request) => {
      expect(request.rateLimit).type.toBe<RateLimitDecision | undefined>()
      expect(request.rateLimit?.bucket).type.toBe<'ip' | 'user' | 'key' | undefined>()
      expect(request.rateLimit?.delayedMs).type.toBe<number | undefined>()
      expect(request.rateLimit?.inFlight).type.toBe<number | undefined>()
      expect(request.rateLimit?.banned).type.toBe<boolean | undefined>()
      return 'ok'
    })
    expect<FastifyInstance['rateLimit']>().type.toBe<RateLimitApi>()
  })
})

describe('with the TypeBox type provider', () => {
  const typed = Fastify().withTypeProvider<TypeBoxTypeProvider>()

  test('route schemas keep their inferred types next to config.rateLimit', () => {
    typed.get('/items', {
      schema: { querystring: Type.Object({ page: Type.Number() }) },
      config: { rateLimit: { ip: '10/min', user: '100/min' } }
    }, async (request) => {
      expect(request.query.page).type.toBe<number>()
      expect(request.rateLimit).type.toBe<RateLimitDecision | undefined>()
      return { page: request.query.page }
    })
    expect(typed.rateLimit).type.toBe<RateLimitApi>()
  })

  test('a wrong limit does not compile, inline too (the provider types the route), with a route generic', () => {
    // TypeScript's message here is an odd one (docs/typescript.md)
    expect(typed.get('/x', {
      schema: { querystring: Type.Object({ page: Type.Number() }) },
      config: { rateLimit: { ip: '10/minn' } }
    }, handler)).type.toRaiseError("'ip' does not exist in type 'never'")
    expect(typed.get<{ Querystring: { page: number } }>('/x', {
      schema: { querystring: Type.Object({ page: Type.Number() }) },
      config: { rateLimit: { ip: '10/minn' } }
    }, handler)).type.toRaiseError('"10/minn"')
  })
})
