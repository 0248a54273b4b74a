import t from 'tap'
import fc from 'fast-check'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import limiter from '../../../index.js'
import { algorithms } from '../../../algorithms/index.js'
import { RedisStore } from '../../../stores/redis.js'
import type { RedisClient } from '../../../stores/redis.js'
import { clusterSlot } from '../../../stores/cluster-slot.js'
import type { StoreBucket } from '../../../stores/store.js'
import { batchScenarioArb, sameDecisions } from '../../support/batching.js'
import { Redis, connect, freePort, redisAvailable, startCluster, startRedis } from '../../support/redis.js'

// Redis micro-batching on a real redis-server (and a real 3-master Cluster): the calls of one
// turn go as one EVALSHA per connection (per hash slot on a Cluster) and decide exactly as one
// call after another; damaged values; a client that is ready before the first request.

const bucket = (key: string, limit: number): StoreBucket =>
  ({ key, algorithm: algorithms['fixed-window'], params: { limit, windowMs: 60_000, burst: limit } })

/** EVALSHA calls the server has run (INFO commandstats). */
async function evalshaCalls (client: Redis): Promise<number> {
  const info = await client.info('commandstats')
  return Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(info)?.[1] ?? 0)
}

/** A logger that keeps its lines, to assert on what the plugin logged. */
function capture (): { lines: Array<{ level: number, msg: string }>, stream: Writable } {
  const lines: Array<{ level: number, msg: string }> = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)))
      done()
    }
  })
  return { lines, stream }
}

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const client = connect(t, server.port)

  t.test('batched decisions equal one-by-one decisions, every algorithm, several windows, costs', async (t) => {
    const batched = new RedisStore({ client, keyPrefix: 'batched:' })
    const single = new RedisStore({ client, keyPrefix: 'single:', batch: false })
    let run = 0
    await fc.assert(fc.asyncProperty(batchScenarioArb, (scenario) => sameDecisions(scenario, batched, single, String(run++))), { numRuns: 150 })
    t.pass('the same decisions')
  })

  t.test('one turn is one EVALSHA; a call alone in its turn is sent at the end of it', async (t) => {
    const store = new RedisStore({ client, keyPrefix: 'turns:' })
    await store.consume([bucket('warm', 3)], 1)
    const before = await evalshaCalls(client)
    const decisions = await Promise.all(Array.from({ length: 50 }, (_, i) => store.consume([bucket(`k${i % 5}`, 8)], 1)))
    t.equal(await evalshaCalls(client) - before, 1, 'one EVALSHA for the 50 calls')
    t.same(decisions.map((d) => d.remaining), Array.from({ length: 50 }, (_, i) => Math.max(0, 7 - Math.floor(i / 5))), 'in call order')
    t.same(decisions.map((d) => d.allowed), Array.from({ length: 50 }, (_, i) => i < 40))
    t.equal((await store.consume([bucket('alone', 3)], 1)).remaining, 2)
  })

  t.test('more calls than one EVALSHA takes are split, still in order', async (t) => {
    const store = new RedisStore({ client, keyPrefix: 'many:' })
    const decisions = await Promise.all(Array.from({ length: 450 }, () => store.consume([bucket('one', 400)], 1)))
    t.same(decisions.map((d) => d.allowed), Array.from({ length: 450 }, (_, i) => i < 400))
    t.same(decisions.slice(0, 400).map((d) => d.remaining), Array.from({ length: 400 }, (_, i) => 399 - i))
  })

  t.test('a client the store creates from a URL is not auto-pipelined (measured faster with batching)', async (t) => {
    const store = new RedisStore({ url: server.url, keyPrefix: 'owned:' })
    t.teardown(() => store.close())
    t.equal((store.client as unknown as Redis).options.enableAutoPipelining, false)
    await store.ready()
    t.equal((await store.consume([bucket('k', 3)], 1)).remaining, 2)
  })

  t.test('batch must be a boolean', async (t) => {
    t.throws(() => new RedisStore({ client, batch: 1 as unknown as boolean }), { code: 'FST_LIMITER_INVALID_OPTION' })
  })

  t.test('ready(): at once for a connected, a lazy or a non-ioredis client; rejects for a closed one', async (t) => {
    await new RedisStore({ client }).ready()
    const lazy = connect(t, server.port, { lazyConnect: true })
    t.equal(lazy.status, 'wait')
    await new RedisStore({ client: lazy }).ready()
    t.equal(lazy.status, 'wait', 'a lazy client is left to connect on first use')
    const custom: RedisClient = { call: async () => 'OK', quit: async () => 'OK', isCluster: false, options: {} }
    await new RedisStore({ client: custom }).ready()
    const closed = connect(t, server.port)
    await new RedisStore({ client: closed }).ready()
    closed.disconnect()
    await new Promise((resolve) => setTimeout(resolve, 20))
    t.equal(closed.status, 'end')
    await t.rejects(new RedisStore({ client: closed }).ready(), /closed/)
    const dropped = new Redis({ host: '127.0.0.1', port: server.port })
    dropped.on('error', () => {})
    const waiting = new RedisStore({ client: dropped }).ready()
    dropped.disconnect()
    await t.rejects(waiting, /closed/, 'closed while it waits')
  })

  t.test('the plugin logs a damaged value once, as a warning naming the key', async (t) => {
    const { lines, stream } = capture()
    const app = Fastify({ logger: { level: 'info', stream } })
    t.teardown(() => app.close())
    await app.register(limiter, { redis: client, keyPrefix: 'logged' })
    app.get('/', { config: { rateLimit: '5/min' } }, async () => 'ok')
    t.equal((await app.inject('/')).headers['x-ratelimit-remaining'], '4')
    const keys = await client.keys('limiter:logged*')
    t.equal(keys.length, 1)
    await client.set(keys[0], 'garbage')
    t.equal((await app.inject('/')).headers['x-ratelimit-remaining'], '4', 'an empty bucket again')
    t.equal((await app.inject('/')).headers['x-ratelimit-remaining'], '3')
    const warnings = lines.filter((line) => line.level === 40)
    t.equal(warnings.length, 1)
    t.match(warnings[0], { key: keys[0].slice('limiter:'.length), msg: /did not parse .* empty bucket/ })
    t.same(lines.filter((line) => line.level >= 50), [], 'not a store failure')
  })

  t.test('a batch that fails fails each of its requests', async (t) => {
    const doomed = await startRedis(t)
    const lost = connect(t, doomed.port, { enableOfflineQueue: false, retryStrategy: () => null })
    const store = new RedisStore({ client: lost, keyPrefix: 'doomed:' })
    await store.ready()
    await store.consume([bucket('k', 3)], 1)
    await doomed.stop()
    const results = await Promise.allSettled([store.consume([bucket('a', 3)], 1), store.consume([bucket('b', 3)], 1)])
    t.same(results.map((r) => r.status), ['rejected', 'rejected'])
  })

  t.test('a damaged value is an empty bucket: deleted, reported once by key, never a failure', async (t) => {
    const store = new RedisStore({ client, keyPrefix: 'damaged:' })
    const reported: string[] = []
    await store.ready({ damaged: (key) => reported.push(key) })
    const sliding = (key: string): StoreBucket => ({ key, algorithm: algorithms['sliding-window'], params: { limit: 5, windowMs: 60_000, burst: 5 } })
    const garbage = ['not a state', '', '9007199254740993,1,1,1', '4102444800000,1,2', '4102444800000,1,,2,3',
      '4102444800000,1,2,3,4', '4102444800000,1.5,2,3', '41024448000000000,1,2,3', ',4102444800000,1,2']
    for (const [i, text] of garbage.entries()) await client.set(`damaged:{g}:${i}`, text)
    const decisions = await Promise.all(garbage.map((_, i) => store.consume([sliding(`{g}:${i}`)], 1)))
    t.same(decisions.map((d) => [d.allowed, d.remaining]), garbage.map(() => [true, 4]), 'each read as an empty bucket')
    t.same(reported, garbage.map((_, i) => `{g}:${i}`), 'every one reported, once, by the key the plugin gave')
    t.same((await store.consume([sliding('{g}:1')], 1)).remaining, 3, 'then counted as usual')
    t.equal((await store.stats()).damaged, reported.length)
    t.equal(reported.length, garbage.length)
  })

  t.test('the plugin with enableOfflineQueue: false: the first requests after ready() are decided by Redis', async (t) => {
    const given = new Redis({ host: '127.0.0.1', port: server.port, enableOfflineQueue: false })
    given.on('error', () => {})
    t.teardown(() => given.disconnect())
    const { lines, stream } = capture()
    const app = Fastify({ logger: { level: 'info', stream } })
    t.teardown(() => app.close())
    await app.register(limiter, { redis: given, keyPrefix: 'first', onStoreError: 'allow' })
    app.get('/', { config: { rateLimit: '2/min' } }, async () => 'ok')
    await app.ready()
    const replies = await Promise.all([app.inject('/'), app.inject('/'), app.inject('/')])
    t.same(replies.map((r) => r.statusCode).sort(), [200, 200, 429], 'Redis decided, not the fallback')
    t.same(replies.map((r) => r.headers['x-ratelimit-limit']), ['2', '2', '2'])
    t.same(lines.filter((line) => line.level >= 40), [], 'no warning, no error')
  })

  t.test('the plugin with a Redis that is not there: ready() is not held up, and one line says so', async (t) => {
    const port = await freePort()
    const given = new Redis({ host: '127.0.0.1', port, enableOfflineQueue: false, retryStrategy: () => 1_000 })
    given.on('error', () => {})
    t.teardown(() => given.disconnect())
    const { lines, stream } = capture()
    const app = Fastify({ logger: { level: 'info', stream } })
    t.teardown(() => app.close())
    await app.register(limiter, { redis: given, onStoreError: 'allow' })
    app.get('/', { config: { rateLimit: '2/min' } }, async () => 'ok')
    await app.ready()
    const errors = lines.filter((line) => line.level >= 50)
    t.equal(errors.length, 1)
    t.match(errors[0].msg, /^fastify-limiter: the rate-limit store is not ready \(.*ECONNREFUSED.*\); requests follow onStoreError until it is$/)
    t.notOk('err' in errors[0], 'one line, no stack')
  })

  t.test('Cluster: one EVALSHA per hash slot, decisions equal one-by-one ones', async (t) => {
    const cluster = await startCluster(t)
    const clusterClient = cluster.client()
    const batched = new RedisStore({ client: clusterClient, keyPrefix: 'cb:' })
    const single = new RedisStore({ client: clusterClient, keyPrefix: 'cs:', batch: false })
    let run = 0
    await fc.assert(fc.asyncProperty(batchScenarioArb, (scenario) => sameDecisions(scenario, batched, single, String(run++))), { numRuns: 40 })
    t.pass('the same decisions')

    const admins = cluster.nodes.map((node) => connect(t, node.port))
    const calls = async (): Promise<number> => (await Promise.all(admins.map(evalshaCalls))).reduce((a, b) => a + b, 0)
    const before = await calls()
    // 60 calls on 6 hash tags: at most 6 EVALSHA (one per slot), however the slots fall on masters
    await Promise.all(Array.from({ length: 60 }, (_, i) => batched.consume([bucket(`{tag${i % 6}}:x`, 100)], 1)))
    t.equal(await calls() - before, 6)

    // the store's slot function against the Cluster's own
    for (const key of ['123456789', 'foo', '{user1000}.following', 'a{}b', 'x{y', '{}{x}', 'h\u00e9llo{\u00fcn\u00ef}', 'limiter:{GET /a:ip:1.2.3.4}:sw:10:60000']) {
      t.equal(clusterSlot(key), await admins[0].call('cluster', 'keyslot', key), key)
    }
  })
}
