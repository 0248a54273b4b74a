// The example API: every feature of fastify-limiter on the embedded memory store.
// Run with `npm start` (one process: node with tsx as a loader); it prints its pid, the URLs and
// the curl lines to try.
import Fastify from 'fastify'
import type { FastifyRequest } from 'fastify'
import type { AddressInfo } from 'node:net'
import swagger from '@fastify/swagger'
import { Registry } from 'prom-client'
import fastifyLimiter from '../index.js'

interface User { id: string, plan: 'free' | 'pro' }

// A toy "auth plugin": `Authorization: Bearer alice` signs in as alice; pro users have a key.
const users: Record<string, User> = { alice: { id: 'alice', plan: 'free' }, bob: { id: 'bob', plan: 'pro' } }

export async function buildExample () {
  // trustProxy: requests from loopback may name their client in X-Forwarded-For (try it with curl -H)
  const app = Fastify({ logger: { level: 'warn' }, trustProxy: 'loopback' })

  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request) => {
    const token = request.headers.authorization?.replace(/^Bearer /, '')
    if (token !== undefined && token in users) (request as FastifyRequest & { user: User }).user = users[token]
  })

  // the OpenAPI document shows every limit, its 429 and its headers (served at /documentation/json)
  await app.register(swagger, { openapi: { info: { title: 'fastify-limiter example API', version: '1.0.0' } } })
  const metrics = new Registry()

  await app.register(fastifyLimiter, {
    global: '60/min', // every route without its own limit
    headers: 'legacy', // try 'ietf' for RateLimit-Policy / RateLimit
    exempt: ['10.0.0.0/8'], // internal traffic is never limited
    onExceeded: (request, context) => request.log.warn({ route: context.route, bucket: context.bucket }, 'limited'),
    metrics: { registry: metrics }, // Prometheus counters, scraped at /metrics
    log: { denied: 'warn' } // 429s logged at the logger's level, so they show (with a hashed client identity); dry-run denials too
  })

  // anonymous traffic per IP, signed-in traffic per user, with different rates
  app.post('/upload', { config: { rateLimit: { ip: '5/min', user: '50/min' } } }, async (request) => ({
    uploaded: true, as: (request as FastifyRequest & { user: User | null }).user?.id ?? 'anonymous', limit: request.rateLimit
  }))
  // shorthand: '3/10s' limits each client IP
  app.get('/feed', { config: { rateLimit: '3/10s' } }, async () => ({ items: ['a', 'b', 'c'] }))
  // several windows at once: both must allow
  app.get('/search', { config: { rateLimit: { ip: ['2/s', '20/min'] } } }, async (request) => ({ q: (request.query as { q?: string }).q ?? '' }))
  // request cost: an export costs 10 of the 30 units per hour
  app.post('/export', { config: { rateLimit: { ip: '30/hour', cost: 10 } } }, async () => ({ exported: true }))
  // token bucket with a burst
  app.get('/burst', { config: { rateLimit: { ip: '10/min', algorithm: 'token-bucket', burst: 15 } } }, async () => ({ ok: true }))
  // a custom key: per API key
  app.get('/partner', { config: { rateLimit: { key: (r) => r.headers['x-api-key'] as string | undefined, rate: '4/min', ip: '1/min' } } }, async (request) => ({ bucket: request.rateLimit?.bucket }))
  // a client written against the IETF drafts: draft-7 headers and an RFC 9457 problem+json 429
  app.get('/quota', { config: { rateLimit: { ip: '2/min', headers: 'draft-7', errorFormat: 'problem' } } }, async () => ({ ok: true }))
  // waiting instead of a 429: a request that can pass within 2 s waits for its turn
  app.get('/slow', { config: { rateLimit: { ip: '1/s', delay: { maxMs: 2000 } } } }, async (request) => ({ waitedMs: request.rateLimit?.delayedMs ?? 0 }))
  // concurrency: one render per client IP at a time (two per signed-in user), whatever the rate allows
  app.post('/render', { config: { rateLimit: { ip: '30/min', user: '100/min', concurrency: { ip: 1, user: 2 } } } }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 1000)) // a slow render
    return { rendered: true }
  })
  // bans: a client denied 3 times within a window of 2/10s is banned (403) for 30 s, twice as long each time it comes back
  app.get('/guarded', {
    config: {
      rateLimit: {
        ip: '2/10s',
        ban: { after: 3, for: '30s', backoff: 2, max: '1h' },
        onBan: (request, context) => request.log.warn({ route: context.route, retryAfter: context.retryAfter }, 'client banned')
      }
    }
  }, async () => ({ ok: true }))
  // dry-run: counted and logged, never blocked
  app.get('/beta', { config: { rateLimit: { ip: '2/min', dryRun: true } } }, async (request) => ({ wouldBlock: request.rateLimit?.allowed === false }))
  // routes in a group share buckets
  app.get('/reports/daily', { config: { rateLimit: { ip: '5/min', group: 'reports' } } }, async () => ({ report: 'daily' }))
  app.get('/reports/weekly', { config: { rateLimit: { ip: '5/min', group: 'reports' } } }, async () => ({ report: 'weekly' }))
  // opt out of the global limit
  app.get('/health', { config: { rateLimit: false } }, async () => ({ status: 'ok' }))
  // login: failed attempts count, a success resets the client's bucket
  app.post('/login', { config: { rateLimit: '3/min' } }, async (request, reply) => {
    const { password } = (request.body ?? {}) as { password?: string }
    if (password !== 'secret') return reply.code(401).send({ error: 'wrong password' })
    return { welcome: true }
  })
  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.url === '/login' && reply.statusCode === 200) await app.rateLimit.reset(request)
  })
  // the decorator style, on the not-found handler
  app.setNotFoundHandler({ preHandler: app.rateLimit.hook('10/min') }, async (request, reply) => reply.code(404).send({ error: 'not found' }))
  // what the limiter has seen
  app.get('/stats', { config: { rateLimit: false } }, async () => app.rateLimit.stats())
  // the same counters for Prometheus, and the OpenAPI document
  app.get('/metrics', { config: { rateLimit: false }, schema: { hide: true } }, async (request, reply) => {
    reply.type(metrics.contentType)
    return metrics.metrics()
  })
  app.get('/documentation/json', { config: { rateLimit: false }, schema: { hide: true } }, async () => app.swagger())

  return app
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() as string)) {
  const app = await buildExample()
  await app.listen({ port: Number({ PORT: '3000', ...process.env }.PORT), host: '127.0.0.1' }) // $PORT, default 3000
  const { port } = app.server.address() as AddressInfo // the real one, also for PORT=0
  const base = `http://127.0.0.1:${port}`
  const lines = [
    `fastify-limiter example API on ${base} (memory store, pid ${process.pid}: kill ${process.pid} stops it). Try:`,
    `  for i in 1 2 3 4; do curl -si ${base}/feed | grep -iE 'HTTP|ratelimit|retry'; done      # 3/10s per IP, then 429`,
    `  curl -si -X POST ${base}/upload                                   # anonymous: 5/min per IP`,
    `  curl -si -X POST -H 'Authorization: Bearer alice' ${base}/upload  # signed in: 50/min per user`,
    `  curl -si -X POST -H 'Authorization: Bearer carol' ${base}/upload  # credentials but no such user: per IP, one warning in the log`,
    `  curl -si '${base}/search?q=x'                                    # 2/s and 20/min at once`,
    `  curl -si -X POST ${base}/export                                   # cost 10 of 30/hour`,
    `  curl -si ${base}/burst                                            # token bucket, burst 15`,
    `  curl -si -H 'x-api-key: k1' ${base}/partner                       # per API key`,
    `  for i in 1 2 3; do curl -si ${base}/quota; echo; done             # draft-7 RateLimit headers, then a problem+json 429`,
    `  for i in 1 2 3; do curl -s ${base}/slow; echo; done               # 1/s: waits its turn instead of a 429`,
    `  curl -s -X POST ${base}/render & curl -si -X POST ${base}/render  # 1 render in flight per IP: the second is a 429 with Retry-After: 1`,
    `  for i in 1 2 3 4 5 6; do curl -si ${base}/guarded | grep -iE 'HTTP|retry'; done  # 2/10s, two 429s, then a 403 ban for 30 s`,
    `  curl -si ${base}/beta                                             # dry run: never blocked`,
    `  curl -si ${base}/reports/daily; curl -si ${base}/reports/weekly   # one shared group`,
    `  curl -si -X POST -H 'content-type: application/json' -d '{"password":"secret"}' ${base}/login  # success resets`,
    `  curl -si ${base}/health                                           # opted out of the global 60/min`,
    `  curl -si -H 'x-forwarded-for: 10.1.2.3' ${base}/feed              # exempt: 10.0.0.0/8`,
    `  curl -si ${base}/nope                                             # the 404 handler is limited too`,
    `  curl -s ${base}/stats                                             # counters and store stats`,
    `  curl -s ${base}/metrics                                           # the same for Prometheus`,
    `  curl -s ${base}/documentation/json                                # OpenAPI: each route's limits, 429 and headers`
  ]
  process.stdout.write(lines.join('\n') + '\n')
}
