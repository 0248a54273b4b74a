import t from 'tap'
import { build, hit } from '../support/helpers.js'
import { MemoryStore } from '../../index.js'
import type { Store, StoreBucket, StoreDecision } from '../../index.js'

// Custom stores, as users may write them: asynchronous, and with a backend that can fail or
// hang. They test what the plugin does with any store's failures, not a store implementation
// (the real stores' faults are tested in test/stores/redis/faults.test.ts and test/sqlite-*.test.ts).

class FlakyStore implements Store {
  readonly inner = new MemoryStore()
  mode: 'ok' | 'throw' | 'reject' | 'hang' | 'reject-text' = 'ok'
  calls = 0
  consume (buckets: readonly StoreBucket[], cost: number, now?: number): StoreDecision | Promise<StoreDecision> {
    this.calls++
    if (this.mode === 'throw') throw new Error('backend down (sync)')
    if (this.mode === 'reject') return Promise.reject(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }))
    if (this.mode === 'reject-text') return Promise.reject('plain text') // eslint-disable-line prefer-promise-reject-errors
    if (this.mode === 'hang') return new Promise(() => {})
    return Promise.resolve(this.inner.consume(buckets, cost, now))
  }

  async reset (key: string) { this.inner.reset(key) }
  async clear () { this.inner.clear() }
  async stats () { return this.inner.stats() }
  async close () { this.inner.close() }
}

function logs () {
  const lines: Array<Record<string, unknown>> = []
  return { lines, logger: { level: 'error', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } }
}

t.test('an async store decides through promises', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  const { app } = await build({ store })
  app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  t.equal((await app.inject('/r')).statusCode, 200)
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  t.ok(denied.headers['retry-after'])
})

t.test("'fallback' (default): a failing store's requests are decided on a local memory store", async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  const { app, clock } = await build({ store })
  app.get('/r', { config: { rateLimit: '2/min' } }, async () => 'ok')
  await hit(app, '/r', 1) // one counted by the real store
  store.mode = 'reject'
  t.same(await hit(app, '/r', 6), [200, 200, 429, 429, 429, 429], 'the fallback store limits on its own count')
  // issue 14: the breaker opens on failures in a row, never on one
  t.equal(store.calls, 6, 'after five failures in a row the store is not asked while the breaker is open')
  t.match(await app.rateLimit.stats(), { storeErrors: 5, denied: 4 })
  store.mode = 'ok'
  clock.advance(1_000) // the breaker half-opens: the next request probes the store, and its success closes it
  t.same(await hit(app, '/r', 2), [200, 429], 'recovered: the real store (1 counted before) decides again')
  t.equal(store.calls, 8)
})

t.test("'allow' lets requests through without a decision; 'deny' answers 503 with Retry-After", async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  store.mode = 'throw'
  const allow = await build({ store, onStoreError: 'allow' })
  allow.app.get('/r', { config: { rateLimit: '1/min' } }, async (request) => ({ limited: request.rateLimit !== undefined }))
  const passed = await allow.app.inject('/r')
  t.equal(passed.statusCode, 200)
  t.same(passed.json(), { limited: false })
  t.notOk(passed.headers['x-ratelimit-limit'])
  t.same(await hit(allow.app, '/r', 3), [200, 200, 200], 'fail open')

  const deny = await build({ store, onStoreError: 'deny' })
  deny.app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  const refused = await deny.app.inject('/r')
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '1')
  t.same(refused.json(), { statusCode: 503, error: 'Service Unavailable', message: 'The rate-limit store is unavailable, retry in 1 second' })
})

t.test('onStoreError per route overrides the plugin option', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  store.mode = 'reject'
  const { app } = await build({ store, onStoreError: 'deny' })
  app.get('/open', { config: { rateLimit: { ip: '1/min', onStoreError: 'allow' } } }, async () => 'ok')
  app.get('/closed', { config: { rateLimit: '1/min' } }, async () => 'ok')
  app.get('/local', { config: { rateLimit: { ip: '1/min', onStoreError: 'fallback' } } }, async () => 'ok')
  t.same(await hit(app, '/open', 2), [200, 200])
  t.same(await hit(app, '/closed', 1), [503])
  t.same(await hit(app, '/local', 2), [200, 429])
})

t.test('storeTimeoutMs bounds a hung store; the request follows its mode', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  store.mode = 'hang'
  const { lines, logger } = logs()
  const { app } = await build({ store, storeTimeoutMs: 50 }, { logger })
  app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  const started = performance.now()
  t.equal((await app.inject('/r')).statusCode, 200, 'decided by the fallback store')
  const waited = performance.now() - started
  t.ok(waited >= 45, `waited for the timeout (${Math.round(waited)} ms)`)
  t.ok(waited < 5_000, 'and not much longer (a hang detector, not a speed test)')
  t.equal(lines[0]?.err && (lines[0].err as { code: string }).code, 'FST_LIMITER_STORE_TIMEOUT')
  t.match(lines[0], { onStoreError: 'fallback', msg: /the rate-limit store failed \(deciding on the local memory store for 1000 ms/ })
})

t.test('store errors are logged at most once per second per cause, with the count of the others', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  const { lines, logger } = logs()
  const { app, clock } = await build({ store }, { logger })
  app.get('/r', { config: { rateLimit: '100/min' } }, async () => 'ok')
  store.mode = 'reject'
  // ten requests in flight when the store starts failing: ten failures, one log line
  await Promise.all(Array.from({ length: 10 }, () => app.inject('/r')))
  t.equal(lines.length, 1)
  t.equal((await app.rateLimit.stats()).storeErrors, 10)
  clock.advance(1_000) // the breaker closes: the store is asked again, fails again
  await hit(app, '/r', 1)
  t.equal(lines.length, 2, 'a second later: logged again')
  t.match(lines[1], { suppressed: 9, err: { code: 'ECONNREFUSED' } })
  clock.advance(1_000)
  store.mode = 'throw'
  await Promise.all([app.inject('/r'), app.inject('/r')])
  t.equal(lines.length, 3, 'another cause is logged on its own')
  clock.advance(1_000)
  store.mode = 'reject-text'
  await hit(app, '/r', 1)
  t.equal(lines.length, 4, 'a non-Error cause')
  // 10 + 1 + 1 (the second 'throw' request found the breaker open: a synchronous failure opens it at once) + 1
  t.equal((await app.rateLimit.stats()).storeErrors, 13)
})

t.test('many distinct causes do not grow the log memory without bound', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  let n = 0
  store.consume = () => Promise.reject(new Error(`cause ${n++}`))
  const { lines, logger } = logs()
  const { app, clock } = await build({ store }, { logger })
  app.get('/r', { config: { rateLimit: '1000/min' } }, async () => 'ok')
  for (let i = 0; i < 150; i++) {
    await app.inject('/r')
    clock.advance(1_000)
  }
  t.equal(lines.length, 150, 'every new cause is logged')
})

t.test('denial cache: a blocked client costs no store call until its retry time', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  const { app, clock } = await build({ store })
  app.get('/r', { config: { rateLimit: '2/min' } }, async () => 'ok')
  app.get('/w', { config: { rateLimit: { ip: ['1/s', '3/min'] } } }, async () => 'ok')
  t.same(await hit(app, '/r', 3), [200, 200, 429])
  t.equal(store.calls, 3)
  const flood = await hit(app, '/r', 50)
  t.ok(flood.every((code) => code === 429))
  t.equal(store.calls, 3, 'the flood of an already-blocked client made no store call')
  const cached = await app.inject('/r')
  t.equal(cached.headers['retry-after'], '70', 'answered with the remaining wait')
  clock.advance(70_000)
  t.same(await hit(app, '/r', 1), [200], 'at the retry time it asks the store again, which allows')
  t.equal(store.calls, 4)
  // several windows: cached under all their keys together
  t.same(await hit(app, '/w', 2), [200, 429])
  t.same(await hit(app, '/w', 5), [429, 429, 429, 429, 429])
  t.equal(store.calls, 6)
  // reset on this server forgets cached denials
  await app.rateLimit.reset({ route: 'GET /r', ip: '127.0.0.1' })
  t.same(await hit(app, '/r', 1), [200])
  t.equal(store.calls, 7)
})

t.test('denial cache: a cheaper request than the cached denial asks the store', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  const { app } = await build({ store, algorithm: 'fixed-window' })
  app.get('/q', { config: { rateLimit: { ip: '10/min', cost: (r) => Number((r.query as { n: string }).n) } } }, async () => 'ok')
  t.equal((await app.inject('/q?n=8')).statusCode, 200)
  t.equal((await app.inject('/q?n=5')).statusCode, 429)
  t.equal((await app.inject('/q?n=6')).statusCode, 429, 'as costly or more: answered from the cache')
  t.equal(store.calls, 2)
  t.equal((await app.inject('/q?n=2')).statusCode, 200, 'cheaper: asked the store, and it fits')
  t.equal(store.calls, 3)
  await app.rateLimit.clear()
  t.equal((await app.inject('/q?n=9')).statusCode, 200, 'clear() forgets cached denials too')
})

t.test('denial cache: dry-run limits and the memory store do not use it', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  const { app } = await build({ store })
  app.get('/d', { config: { rateLimit: { ip: '1/min', dryRun: true } } }, async () => 'ok')
  await hit(app, '/d', 4)
  t.equal(store.calls, 4)
  t.equal((await app.rateLimit.stats()).dryRunDenied, 3)
})

t.test('stats() reports a failing or hung store instead of failing or hanging', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  const { app } = await build({ store, storeTimeoutMs: 50 })
  store.stats = () => Promise.reject(new Error('INFO failed'))
  t.same((await app.rateLimit.stats()).store, { error: 'INFO failed' })
  store.stats = () => Promise.reject('down') // eslint-disable-line prefer-promise-reject-errors
  t.same((await app.rateLimit.stats()).store, { error: "'down'" })
  store.stats = () => { throw new Error('sync') }
  t.same((await app.rateLimit.stats()).store, { error: 'sync' })
  store.stats = () => new Promise(() => {})
  t.same((await app.rateLimit.stats()).store, { error: 'the rate-limit store did not answer within storeTimeoutMs (50 ms)' })
})
