// The benchmark servers, built by name. Every server answers GET / with the same JSON, so that
// the only difference between two of them is the rate limiter.
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { Cluster, Redis } from 'ioredis'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible'
import type { RateLimiterAbstract } from 'rate-limiter-flexible'
import type plugin from '../../index.js'
import { servers } from './names.js'
import type { ServerName } from './names.js'
import { redisFloor } from './redis-floor.js'

// @fastify/rate-limit is loaded by a computed name: its type declarations augment Fastify's
// `rateLimit` config and decorator the same way this plugin does, and the two cannot be compiled together.
const competitor = '@fastify/rate-limit'
const fastifyRateLimit = (await import(competitor) as { default: FastifyPluginAsync<Record<string, unknown>> }).default

// BENCH_PLUGIN: the entry point of another build of the plugin, loaded instead of this one
// (`npm run bench -- --baseline <ref>` measures a commit against the working tree in one run)
const limiter = (await import(process.env.BENCH_PLUGIN ?? '../../index.js') as { default: typeof plugin }).default

/** A limit no benchmark reaches: every request is decided and allowed. */
const HIGH = 10_000_000
const route = { hello: 'world' }

/** One ioredis client per server, auto-pipelined so that concurrent requests share round trips. */
function redis (port: number, pipelined = true): Redis {
  const client = new Redis({ host: '127.0.0.1', port, enableAutoPipelining: pipelined })
  client.on('error', () => {})
  // count what the server sends (Redis' own counters also count the commands its scripts run)
  const send = client.sendCommand.bind(client)
  client.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
    commandsSent++
    return send(...args)
  }
  return client
}

/** A Cluster client on the benchmark's 3 masters ($BENCH_CLUSTER_PORTS), commands counted like redis(). */
function cluster (): Cluster {
  const ports = (process.env.BENCH_CLUSTER_PORTS ?? '').split(',').filter((p) => p !== '').map(Number)
  if (ports.length === 0) throw new Error('BENCH_CLUSTER_PORTS names no Cluster node')
  const client = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), { enableAutoPipelining: true })
  client.on('error', () => {})
  const send = client.sendCommand.bind(client)
  client.sendCommand = (...args: Parameters<Cluster['sendCommand']>) => {
    commandsSent++
    return send(...args)
  }
  return client
}

/** Redis commands this server has sent, read by the benchmark from GET /__commands. */
let commandsSent = 0

/** rate-limiter-flexible has no Fastify plugin: the usual onRequest hook, with the same 3 headers. */
function flexible (app: FastifyInstance, rl: RateLimiterAbstract): void {
  app.addHook('onRequest', async (request, reply) => {
    try {
      const r = await rl.consume(request.ip)
      reply.header('x-ratelimit-limit', HIGH)
      reply.header('x-ratelimit-remaining', r.remainingPoints)
      reply.header('x-ratelimit-reset', Math.ceil((Date.now() + r.msBeforeNext) / 1000))
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err
      reply.header('retry-after', Math.ceil(err.msBeforeNext / 1000))
      return reply.code(429).send({ statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded' })
    }
  })
}

/**
 * Builds server `name` (not listening). `redisPort` is the benchmark's redis-server, `sqliteDir`
 * where the SQLite server keeps its file.
 */
export async function build (name: ServerName, redisPort: number, sqliteDir: string): Promise<FastifyInstance> {
  if (!(name in servers)) throw new Error(`unknown server ${name}; one of ${Object.keys(servers).join(', ')}`)
  // trustProxy: the many-clients servers tell clients apart by X-Forwarded-For; every server
  // gets the same setting, so that bare Fastify pays the same for request.ip when it is read.
  const app = Fastify({ trustProxy: true })
  let config: unknown
  switch (name) {
    case 'bare':
    case 'bare-many-clients':
      break
    case 'headers-only':
      app.addHook('onRequest', (request, reply, done) => {
        reply.header('x-ratelimit-limit', HIGH)
        reply.header('x-ratelimit-remaining', HIGH - 1)
        reply.header('x-ratelimit-reset', Math.ceil(Date.now() / 1000) + 3600)
        done()
      })
      break
    case 'fl-memory-sw':
    case 'fl-many-clients':
      await app.register(limiter)
      config = { rateLimit: `${HIGH}/hour` }
      break
    case 'fl-memory-fw':
      await app.register(limiter, { algorithm: 'fixed-window' })
      config = { rateLimit: `${HIGH}/hour` }
      break
    case 'fl-memory-429':
      await app.register(limiter)
      config = { rateLimit: '1/hour' }
      break
    case 'fl-sqlite':
      // the store users get: the sqlite shorthand, default options (group commit, busyTimeoutMs = storeTimeoutMs)
      await app.register(limiter, { sqlite: join(sqliteDir, `${process.pid}.db`) })
      config = { rateLimit: `${HIGH}/hour` }
      break
    case 'fl-sqlite-4proc':
      // every worker of the 4 (bench/servers/app.ts) opens the same file, with the default options
      await app.register(limiter, { sqlite: join(sqliteDir, 'shared.db') })
      config = { rateLimit: `${HIGH}/hour` }
      break
    case 'fl-redis-many-clients':
      await app.register(limiter, { redis: redis(redisPort) })
      config = { rateLimit: `${HIGH}/hour` }
      break
    case 'fl-redis-cluster':
      await app.register(limiter, { redis: cluster() })
      config = { rateLimit: `${HIGH}/hour` }
      break
    case 'redis-floor':
      // the client of fl-redis-unpipelined: the floor batches by itself, as the plugin does
      await redisFloor(app, redis(redisPort, false), HIGH)
      break
    case 'fl-redis':
      await app.register(limiter, { redis: redis(redisPort) })
      config = { rateLimit: `${HIGH}/hour` }
      break
    case 'fl-redis-unpipelined':
      await app.register(limiter, { redis: redis(redisPort, false) })
      config = { rateLimit: `${HIGH}/hour` }
      break
    case 'fl-redis-blocked':
      await app.register(limiter, { redis: redis(redisPort) })
      config = { rateLimit: '1/hour' }
      break
    case 'frl-memory':
      await app.register(fastifyRateLimit, { global: false })
      config = { rateLimit: { max: HIGH, timeWindow: 3_600_000 } }
      break
    case 'frl-memory-429':
      await app.register(fastifyRateLimit, { global: false })
      config = { rateLimit: { max: 1, timeWindow: 3_600_000 } }
      break
    case 'frl-redis':
      await app.register(fastifyRateLimit, { global: false, redis: redis(redisPort) })
      config = { rateLimit: { max: HIGH, timeWindow: 3_600_000 } }
      break
    case 'rlf-memory':
      flexible(app, new RateLimiterMemory({ points: HIGH, duration: 3600 }))
      break
    case 'rlf-redis':
      flexible(app, new RateLimiterRedis({ storeClient: redis(redisPort), points: HIGH, duration: 3600 }))
      break
  }
  app.get('/', config === undefined ? {} : { config: config as never }, async () => route)
  app.get('/__commands', { config: { rateLimit: false } as never }, async () => ({ commands: commandsSent }))
  return app
}
