// Redis store throughput and latency, against a throwaway redis-server on loopback, and the
// cost of the plugin on Redis at the HTTP level against bare Fastify (autocannon).
// Run: npx tsx bench/redis.ts            (add --no-http to skip the autocannon part)
import { cpus, loadavg } from 'node:os'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import limiter, { RedisStore, algorithmNames, algorithms } from '../index.js'
import type { AlgorithmName, FastifyLimiterOptions, StoreBucket } from '../index.js'
import { startRedis } from '../test/support/redis.js'

const KEYS = 10_000
const teardowns: Array<() => unknown> = []
const server = await startRedis({ teardown: (fn) => teardowns.push(fn) })
const client = new Redis({ host: '127.0.0.1', port: server.port })

function bucketsFor (name: AlgorithmName): StoreBucket[][] {
  const params = { limit: 100, windowMs: 60_000, burst: 100 }
  return Array.from({ length: KEYS }, (_, i) =>
    [{ key: `fl:{bench:ip:10.0.${i >> 8}.${i & 255}}:${algorithms[name].code}:100:60000`, algorithm: algorithms[name], params }])
}

/** `calls` consumes spread over KEYS identities, `concurrency` of them in flight at a time. */
async function measure (store: RedisStore, name: AlgorithmName, calls: number, concurrency: number) {
  const buckets = bucketsFor(name)
  for (let i = 0; i < KEYS; i += 500) {
    await Promise.all(buckets.slice(i, i + 500).map((b) => store.consume(b, 1)))
  }
  const latencies = new Float64Array(calls)
  let next = 0
  let allowed = 0
  const began = process.hrtime.bigint()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < calls) {
      const i = next++
      const t0 = process.hrtime.bigint()
      if ((await store.consume(buckets[i % KEYS], 1)).allowed) allowed++
      latencies[i] = Number(process.hrtime.bigint() - t0) / 1000
    }
  }))
  const seconds = Number(process.hrtime.bigint() - began) / 1e9
  latencies.sort()
  const at = (q: number) => latencies[Math.min(calls - 1, Math.floor(q * calls))]
  return {
    'decisions/s': Math.round(calls / seconds).toLocaleString('en-US'),
    'p50 µs': at(0.5).toFixed(0),
    'p99 µs': at(0.99).toFixed(0),
    allowed: `${(100 * allowed / calls).toFixed(0)}%`
  }
}

type HttpResult = { 'requests/s': number, 'p50 ms': number, 'p99 ms': number, non2xx: number }

/** One Fastify app (bare when `options` is undefined) under autocannon: 2 s of warm-up, then 8 s measured. */
async function http (options: FastifyLimiterOptions | undefined): Promise<HttpResult> {
  const app = Fastify()
  if (options !== undefined) await app.register(limiter, options)
  // a limit no benchmark reaches: every request is decided and allowed
  app.get('/', { config: { rateLimit: '10000000/hour' } }, async () => ({ hello: 'world' }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const run = (duration: number) => autocannon({ url: `http://127.0.0.1:${port}/`, connections: 50, duration, workers: 1 })
  await run(2)
  const result = await run(8)
  await app.close()
  return { 'requests/s': Math.round(result.requests.average), 'p50 ms': result.latency.p50, 'p99 ms': result.latency.p99, non2xx: result.non2xx }
}

/** The mean of two runs, the second in reverse order, so that neither warms up for the other. */
async function httpRounds (configs: Record<string, FastifyLimiterOptions | undefined>): Promise<Record<string, HttpResult>> {
  const names = Object.keys(configs)
  const runs: Record<string, HttpResult[]> = {}
  for (const name of [...names, ...names.slice().reverse()]) (runs[name] ??= []).push(await http(configs[name]))
  return Object.fromEntries(names.map((name) => {
    const [a, b] = runs[name]
    const mean = (field: keyof HttpResult) => Math.round((a[field] + b[field]) / 2)
    return [name, { 'requests/s': mean('requests/s'), 'p50 ms': mean('p50 ms'), 'p99 ms': mean('p99 ms'), non2xx: a.non2xx + b.non2xx }]
  }))
}

try {
  const store = new RedisStore({ client, keyPrefix: 'bench:' })
  const rows: Record<string, Record<string, string>> = {}
  rows['sliding-window, 1 in flight'] = await measure(store, 'sliding-window', 20_000, 1)
  for (const name of algorithmNames) rows[`${name}, 64 in flight`] = await measure(store, name, 100_000, 64)
  console.log(`RedisStore on redis-server ${(await client.info('server')).match(/redis_version:(\S+)/)?.[1]} (loopback), ` +
    `Node ${process.version}, ${cpus().length} × ${cpus()[0].model}, load average before: ${loadavg()[0].toFixed(1)}`)
  console.table(rows)

  if (!process.argv.includes('--no-http')) {
    const results = await httpRounds({
      'bare Fastify': undefined,
      'fastify-limiter, memory store': {},
      'fastify-limiter, Redis store': { redis: client, keyPrefix: 'bench-http' }
    })
    console.log('HTTP: autocannon (1 worker thread), 50 connections, GET / returning JSON; mean of two 8 s runs after 2 s of warm-up')
    console.table(results)
    const bare = results['bare Fastify']['requests/s']
    const share = (name: string) => `${(100 * results[name]['requests/s'] / bare).toFixed(0)}%`
    console.log(`requests/s relative to bare Fastify: Redis store ${share('fastify-limiter, Redis store')}, memory store ${share('fastify-limiter, memory store')}`)
  }
} finally {
  client.disconnect()
  for (const fn of teardowns) await fn()
}
