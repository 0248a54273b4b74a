// Issue 14, item 3: the breaker and the denial cache read the wall clock, so a clock stepped
// back one hour after a store failure kept the store unused for an hour. Every duration now
// runs on the monotonic clock (performance.now). Here both clocks are moved by hand: Date.now
// is stepped back one hour, performance.now forward by the breaker's second. No sleeps.
import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import limiter, { MemoryStore } from '../../index.js'
import type { Store, StoreBucket, StoreDecision } from '../../index.js'
import { hit } from '../support/helpers.js'

class FlakyStore implements Store {
  readonly inner = new MemoryStore()
  failing = false
  calls = 0
  consume (buckets: readonly StoreBucket[], cost: number, now?: number): Promise<StoreDecision> {
    this.calls++
    if (this.failing) return Promise.reject(Object.assign(new Error('down'), { code: 'ECONNREFUSED' }))
    return Promise.resolve(this.inner.consume(buckets, cost, now))
  }

  async reset (key: string) { this.inner.reset(key) }
  async clear () { this.inner.clear() }
  async stats () { return this.inner.stats() }
  async close () { this.inner.close() }
}

/** Moves both clocks of this process by hand for the length of a test. */
function clocks (t: Test) {
  const realNow = Date.now
  const realMono = performance.now.bind(performance)
  let wall = 0
  let mono = 0
  Date.now = () => realNow() + wall
  performance.now = () => realMono() + mono
  t.teardown(() => {
    Date.now = realNow
    delete (performance as { now?: unknown }).now
  })
  return {
    stepWall (ms: number) { wall += ms },
    stepMono (ms: number) { mono += ms }
  }
}

const HOUR = 3_600_000

t.test('the breaker closes one monotonic second after it opened, though the wall clock went back an hour', async (t) => {
  const clock = clocks(t)
  const store = new FlakyStore()
  t.teardown(() => store.close())
  const lines: Array<Record<string, unknown>> = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
  t.teardown(() => app.close())
  await app.register(limiter, { store }) // no injected clock: the wall clock is Date.now
  app.get('/r', { config: { rateLimit: '100/min' } }, async () => 'ok')
  store.failing = true
  await hit(app, '/r', 6)
  t.equal(store.calls, 5, 'five failures in a row opened the breaker')
  t.equal(lines.length, 1, 'logged once')
  clock.stepWall(-HOUR)
  store.failing = false
  await hit(app, '/r', 1)
  t.equal(store.calls, 5, 'still open within the second')
  clock.stepMono(1_000)
  t.same(await hit(app, '/r', 2), [200, 200])
  t.equal(store.calls, 7, 'a monotonic second later the store is asked again, and the probe closed the breaker')
  store.failing = true
  await hit(app, '/r', 1)
  t.equal(lines.length, 2, 'the log-once second ran on the monotonic clock too')
})

t.test('a cached denial expires on the monotonic clock, though the wall clock went back an hour', async (t) => {
  const clock = clocks(t)
  const store = new FlakyStore()
  t.teardown(() => store.close())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(limiter, { store, algorithm: 'fixed-window' })
  app.get('/r', { config: { rateLimit: '1/s' } }, async () => 'ok')
  t.same(await hit(app, '/r', 2), [200, 429])
  t.same(await hit(app, '/r', 1), [429])
  t.equal(store.calls, 2, 'the second denial came from the denial cache')
  clock.stepWall(-HOUR)
  clock.stepMono(1_000)
  await hit(app, '/r', 1)
  t.equal(store.calls, 3, 'a monotonic second later the store is asked again')
})

t.test('with an injected clock, a denial also expires when that clock passes it (tests move it)', async (t) => {
  const store = new FlakyStore()
  t.teardown(() => store.close())
  let now = 1_700_000_000_000
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(limiter, { store, algorithm: 'fixed-window', clock: () => now })
  app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  t.same(await hit(app, '/r', 3), [200, 429, 429])
  t.equal(store.calls, 2)
  const cached = await app.inject('/r')
  t.equal(cached.headers['retry-after'], '40', 'the cached denial counts down on the injected clock')
  now += 60_000
  t.same(await hit(app, '/r', 1), [200])
  t.equal(store.calls, 3)
})
