// Soak: mixed traffic for a while (default 10 minutes) against the memory, SQLite and Redis
// stores at once, with a Redis kill and restart in the middle. The plugin runs on a virtual
// clock, so the exact expected count of allowed requests is known: a reference store runs the
// same pure algorithms (evaluate()) on a plain Map, with no eviction and no failures.
//
//   npm run soak                 # 600 s
//   npm run soak -- --seconds 60
//
// Reports, per store: requests, allowed, expected allowed, the difference, store errors; and
// the process RSS over time. Memory and SQLite must match exactly; Redis differs only by what
// the restart lost (its buckets start over) and what the fallback decided while it was down.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import limiter, { MemoryStore, RedisStore, SqliteStore, evaluate } from '../index.js'
import type { Store, StoreBucket, StoreDecision } from '../index.js'

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 600)

/** The reference: the pure algorithms on a Map that never forgets. */
class ReferenceStore implements Store {
  readonly states = new Map<string, unknown>()
  consume (buckets: readonly StoreBucket[], cost: number, now = 0): StoreDecision {
    const { decision, states } = evaluate(buckets, buckets.map((b) => this.states.get(b.key)), cost, now)
    if (decision.allowed) buckets.forEach((b, i) => this.states.set(b.key, states[i]))
    return decision
  }

  reset (key: string) { this.states.delete(key) }
  clear () { this.states.clear() }
  stats () { return { keys: this.states.size } }
  close () {}
}

/** A small seeded PRNG (mulberry32), so a run can be repeated. */
function random (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

function startRedis (port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
}

const routes: Array<[string, object]> = [
  ['/fixed', { ip: '20/s', algorithm: 'fixed-window' }],
  ['/sliding', { ip: '50/10s' }],
  ['/log', { ip: '30/5s', algorithm: 'sliding-log' }],
  ['/tokens', { ip: '10/s', algorithm: 'token-bucket', burst: 20 }],
  ['/leaky', { ip: '10/s', algorithm: 'leaky-bucket', burst: 15 }],
  ['/gcra', { ip: '5/s', algorithm: 'gcra', burst: 10 }],
  ['/windows', { ip: ['5/s', '100/min'] }]
]

async function app (store: Store): Promise<FastifyInstance> {
  const server = Fastify({ trustProxy: true })
  await server.register(limiter, { store, clock, headers: false, storeTimeoutMs: 200 })
  for (const [url, rateLimit] of routes) server.get(url, { config: { rateLimit: rateLimit as never } }, async () => 'ok')
  await server.ready()
  return server
}

let now = 1_700_000_000_000
const clock = () => now

const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-soak-'))
const port = await freePort()
let redisServer = startRedis(port)
await new Promise((resolve) => setTimeout(resolve, 300))
const redis = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 100, enableOfflineQueue: false })
redis.on('error', () => {})
await new Promise((resolve) => redis.once('ready', resolve))

const stores: Record<string, Store> = {
  reference: new ReferenceStore(),
  // the stores' own sweeps must run on the virtual clock too, or they expire everything
  memory: new MemoryStore({ maxKeys: 1_000_000, clock, cleanupIntervalMs: 10_000 }),
  sqlite: new SqliteStore({ path: join(dir, 'soak.db'), busyTimeoutMs: 200, clock, cleanupIntervalMs: 10_000 }),
  redis: new RedisStore({ client: redis })
}
const apps = Object.fromEntries(await Promise.all(Object.entries(stores).map(async ([name, store]) => [name, await app(store)] as const)))
const tally = Object.fromEntries(Object.keys(stores).map((name) => [name, { requests: 0, allowed: 0 }]))

const rng = random(42)
const clients = Array.from({ length: 200 }, (_, i) => `10.${i >> 8}.${i & 255}.${(i * 7) & 255}`)
const rss: Array<[number, number]> = []
const started = Date.now()
let restarted = false
let lastSample = 0
process.stdout.write(`soak: ${seconds} s, ${clients.length} clients, ${routes.length} routes, stores: ${Object.keys(stores).join(', ')}\n`)

while (Date.now() - started < seconds * 1000) {
  const elapsed = Date.now() - started
  if (elapsed - lastSample >= 5_000 || lastSample === 0) {
    rss.push([Math.round(elapsed / 1000), process.memoryUsage().rss])
    lastSample = elapsed
  }
  if (!restarted && process.env.SOAK_NO_RESTART === undefined && elapsed >= seconds * 500) {
    restarted = true
    process.stdout.write(`t=${Math.round(elapsed / 1000)} s: killing Redis, restarting it empty in 2 s\n`)
    redisServer.kill('SIGKILL')
    setTimeout(() => { redisServer = startRedis(port) }, 2_000)
  }
  // inject() never touches the network: let timers run (the Redis restart, ioredis reconnects),
  // as a real server's socket I/O would
  await new Promise((resolve) => setImmediate(resolve))
  now += 5 + Math.floor(rng() * 20)
  const batch = 1 + Math.floor(rng() * 20)
  for (let i = 0; i < batch; i++) {
    const url = routes[Math.floor(rng() * routes.length)][0]
    // a few heavy clients, many light ones
    const client = clients[rng() < 0.5 ? Math.floor(rng() * 10) : Math.floor(rng() * clients.length)]
    const results = await Promise.all(Object.entries(apps).map(async ([name, server]) =>
      [name, (await server.inject({ url, headers: { 'x-forwarded-for': client } })).statusCode] as const))
    for (const [name, code] of results) {
      tally[name].requests++
      if (code === 200) tally[name].allowed++
    }
  }
}
rss.push([Math.round((Date.now() - started) / 1000), process.memoryUsage().rss])

const expected = tally.reference.allowed
process.stdout.write('\n| store | requests | allowed | expected allowed | difference | store errors |\n|---|---|---|---|---|---|\n')
for (const [name, { requests, allowed }] of Object.entries(tally)) {
  if (name === 'reference') continue
  const { storeErrors } = await apps[name].rateLimit.stats()
  process.stdout.write(`| ${name} | ${requests} | ${allowed} | ${expected} | ${allowed - expected >= 0 ? '+' : ''}${allowed - expected} | ${storeErrors} |\n`)
}
process.stdout.write(`\nRSS over time (s: MB): ${rss.map(([s, bytes]) => `${s}: ${(bytes / 1024 / 1024).toFixed(0)}`).join(', ')}\n`)

for (const server of Object.values(apps)) await server.close()
for (const store of Object.values(stores)) await store.close()
redis.disconnect()
redisServer.kill('SIGKILL')
rmSync(dir, { recursive: true, force: true })
const mismatch = tally.memory.allowed !== expected || tally.sqlite.allowed !== expected
process.exitCode = mismatch ? 1 : 0
