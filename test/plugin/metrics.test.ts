import t from 'tap'
import client from 'prom-client'
import { build, hit } from '../support/helpers.js'
import { MemoryStore } from '../../index.js'
import { setupMetrics } from '../../lib/observe/metrics.js'
import { Reporter } from '../../lib/observe/report.js'
import { resolveLog } from '../../lib/observe/logging.js'

const ok = async () => ({ ok: true })
const users = { user: (r: { headers: Record<string, unknown> }) => r.headers['x-user'] as string | undefined }

/** The value of one sample in Prometheus text format, or undefined when absent. */
function sample (text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(line + ' '))
  return found === undefined ? undefined : Number(found.slice(line.length + 1))
}

t.test('stats() breaks the counters down by route and bucket kind, with near-limit counts', async (t) => {
  const { app } = await build({ ...users, dryRun: false })
  app.get('/a', { config: { rateLimit: { ip: '10/min', user: '2/min' } } }, ok)
  app.get('/dry', { config: { rateLimit: { ip: '1/min', dryRun: true } } }, ok)
  t.same(await hit(app, '/a', 9), [200, 200, 200, 200, 200, 200, 200, 200, 200])
  t.same(await hit(app, '/a', 3, { 'x-user': 'u1' }), [200, 200, 429])
  await hit(app, '/dry', 2)
  const stats = await app.rateLimit.stats()
  // ip: 9 allowed, remaining 9..1 of 10; near the limit (remaining * 5 < 10) at remaining 1
  // user: 2 allowed, remaining 1 and 0 of 2: both near (1 * 5 >= 2 is not near: only 0)
  t.same(stats.routes['GET /a'], {
    allowed: 11,
    denied: 1,
    dryRunDenied: 0,
    nearLimit: 2,
    storeErrors: 0,
    degraded: 0,
    buckets: {
      ip: { allowed: 9, denied: 0, dryRunDenied: 0, nearLimit: 1 },
      user: { allowed: 2, denied: 1, dryRunDenied: 0, nearLimit: 1 }
    }
  })
  t.same(stats.routes['GET /dry'].buckets, { ip: { allowed: 1, denied: 0, dryRunDenied: 1, nearLimit: 1 } })
  t.match(stats, { allowed: 12, denied: 1, dryRunDenied: 1, nearLimit: 3, storeErrors: 0, degraded: 0 })
  stats.routes['GET /a'].buckets.ip!.allowed = 1000
  t.equal((await app.rateLimit.stats()).routes['GET /a'].buckets.ip!.allowed, 9, 'stats() returns a copy')
})

t.test('store errors, and the requests decided without the store, are counted per route', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  let calls = 0
  store.consume = () => { calls++; throw new Error('down') }
  const registry = new client.Registry()
  const { app, clock } = await build({ store, metrics: { registry } })
  t.teardown(() => app.close())
  app.get('/s', { config: { rateLimit: '10/min' } }, ok)
  app.get('/d', { config: { rateLimit: { ip: '5/min', onStoreError: 'deny' } } }, ok)
  t.same(await hit(app, '/s', 6), [200, 200, 200, 200, 200, 200], 'fallback: decided on the local store')
  t.equal(calls, 5, 'five failures in a row opened the breaker: the sixth request did not ask the store')
  t.same(await hit(app, '/d', 1), [503])
  clock.advance(2000)
  t.same(await hit(app, '/d', 1), [503], 'the breaker let a probe through: the store is asked again and fails again')
  const stats = await app.rateLimit.stats()
  t.match(stats, { storeErrors: 6, degraded: 8 })
  t.match(stats.routes['GET /s'], { storeErrors: 5, degraded: 6, allowed: 6 })
  t.match(stats.routes['GET /d'], { storeErrors: 1, degraded: 2 })
  const text = await registry.metrics()
  t.equal(sample(text, 'fastify_limiter_store_errors_total{route="GET /s"}'), 5)
  t.equal(sample(text, 'fastify_limiter_degraded_total{route="GET /s"}'), 6)
  t.equal(sample(text, 'fastify_limiter_degraded_total{route="GET /d"}'), 2)
})

t.test('metrics: true exposes the counters on prom-client\'s default registry, and removes them on close', async (t) => {
  const { app } = await build({ metrics: true })
  app.get('/a', { config: { rateLimit: '1/min' } }, ok)
  await hit(app, '/a', 3)
  const text = await client.register.metrics()
  t.equal(sample(text, 'fastify_limiter_decisions_total{route="GET /a",bucket="ip",outcome="allowed"}'), 1)
  t.equal(sample(text, 'fastify_limiter_decisions_total{route="GET /a",bucket="ip",outcome="denied"}'), 2)
  t.equal(sample(text, 'fastify_limiter_decisions_total{route="GET /a",bucket="ip",outcome="dry_run_denied"}'), 0)
  t.equal(sample(text, 'fastify_limiter_near_limit_total{route="GET /a",bucket="ip"}'), 1)
  t.equal(sample(text, 'fastify_limiter_store_errors_total{route="GET /a"}'), 0)
  t.match(text, /# TYPE fastify_limiter_decisions_total counter/)
  await hit(app, '/a', 1)
  t.equal(sample(await client.register.metrics(), 'fastify_limiter_decisions_total{route="GET /a",bucket="ip",outcome="denied"}'), 3, 'read at each scrape')
  await app.close()
  t.equal(client.register.getSingleMetric('fastify_limiter_decisions_total'), undefined)
  const again = await build({ metrics: true })
  t.teardown(() => again.app.close())
  t.ok(client.register.getSingleMetric('fastify_limiter_decisions_total'), 'a new app registers again')
})

t.test('metrics: { registry, prefix }; a name already taken fails at registration', async (t) => {
  const registry = new client.Registry()
  const { app } = await build({ metrics: { registry, prefix: 'api_' } })
  t.teardown(() => app.close())
  app.get('/k', { config: { rateLimit: { key: (r) => r.headers['x-key'] as string, rate: '5/min' } } }, ok)
  await hit(app, '/k', 2, { 'x-key': 'k1' })
  const text = await registry.metrics()
  t.equal(sample(text, 'api_decisions_total{route="GET /k",bucket="key",outcome="allowed"}'), 2)
  t.notOk(client.register.getSingleMetric('api_decisions_total'), 'not on the default registry')
  const err = await build({ metrics: { registry, prefix: 'api_' } }).then(() => undefined, (e) => e)
  t.equal(err?.code, 'FST_LIMITER_INVALID_OPTION')
  t.match(err?.message, /a registry without a metric named api_decisions_total/)
  const empty = await build({ metrics: { registry, prefix: '' } })
  t.teardown(() => empty.app.close())
  t.ok(registry.getSingleMetric('decisions_total'), 'an empty prefix is allowed')
})

t.test('without prom-client, metrics fails at registration with a coded error', async (t) => {
  const reporter = new Reporter(resolveLog())
  const missing = Object.assign(new Error("Cannot find package 'prom-client'"), { code: 'ERR_MODULE_NOT_FOUND' })
  for (const reason of [missing, 'not an Error']) {
    const err = await setupMetrics(true, reporter, () => Promise.reject(reason)).then(() => undefined, (e) => e)
    t.equal(err?.code, 'FST_LIMITER_METRICS_UNAVAILABLE')
    t.match(err?.message, /needs the optional peer dependency prom-client \(npm install prom-client\)/)
    t.equal(err?.cause, reason)
  }
  t.equal(await setupMetrics(false, reporter, () => Promise.reject(missing)), undefined, 'metrics: false never loads it')
  // a loader that gives the module itself rather than its namespace (the CommonJS shape)
  const registry = new client.Registry()
  const remove = await setupMetrics({ registry }, reporter, async () => ({ register: client.register, Counter: client.Counter }))
  t.ok(registry.getSingleMetric('fastify_limiter_decisions_total'))
  remove?.()
  t.equal(registry.getSingleMetric('fastify_limiter_decisions_total'), undefined)
})

t.test('bad metrics options fail at registration', async (t) => {
  for (const metrics of ['yes', { prefix: '1bad' }, { prefix: 'a-b' }, { registry: 5 }, { registr: {} }]) {
    const err = await build({ metrics } as never).then(() => undefined, (e) => e)
    t.equal(err?.code, 'FST_LIMITER_INVALID_OPTION', JSON.stringify(metrics))
    t.match(err?.message, /fastify-limiter option metrics/)
  }
})
