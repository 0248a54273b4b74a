import t from 'tap'
import { build } from './helpers.js'
import { MemoryStore } from '../index.js'
import type { Store, StoreBucket } from '../index.js'

// These are custom stores, as users may write them: an async one, and ones whose backend
// fails. They test how the plugin treats any store's answers, not a store implementation.

class AsyncStore implements Store {
  readonly inner = new MemoryStore()
  fail: 'throw' | 'reject' | 'none' = 'none'
  consume (buckets: readonly StoreBucket[], cost: number, now?: number) {
    if (this.fail === 'throw') throw new Error('backend down (sync)')
    if (this.fail === 'reject') return Promise.reject(new Error('backend down (async)'))
    return Promise.resolve(this.inner.consume(buckets, cost, now))
  }

  async reset (key: string) { this.inner.reset(key) }
  async clear () { this.inner.clear() }
  async stats () { return this.inner.stats() }
  async close () { this.inner.close() }
}

t.test('an async store decides through promises', async (t) => {
  const store = new AsyncStore()
  t.teardown(() => store.close())
  const { app } = await build({ store })
  app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  t.equal((await app.inject('/r')).statusCode, 200)
  const denied = await app.inject('/r')
  t.equal(denied.statusCode, 429)
  t.ok(denied.headers['retry-after'])
})

t.test('a store that throws or rejects gives a coded 500 and is counted', async (t) => {
  const store = new AsyncStore()
  t.teardown(() => store.close())
  const { app } = await build({ store })
  app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  for (const fail of ['throw', 'reject'] as const) {
    store.fail = fail
    const res = await app.inject('/r')
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'FST_LIMITER_STORE_FAILED')
    t.match(res.json().message, /^Route GET \/r: the rate-limit store failed: backend down/)
  }
  store.fail = 'none'
  t.equal((await app.inject('/r')).statusCode, 200, 'the next request is decided again')
  t.equal((await app.rateLimit.stats()).storeErrors, 2)
})

t.test('non-Error failures are described too', async (t) => {
  const store = new AsyncStore()
  t.teardown(() => store.close())
  store.consume = () => Promise.reject('plain text') // eslint-disable-line prefer-promise-reject-errors
  const { app } = await build({ store })
  app.get('/r', { config: { rateLimit: '1/min' } }, async () => 'ok')
  const res = await app.inject('/r')
  t.equal(res.json().code, 'FST_LIMITER_STORE_FAILED')
  t.match(res.json().message, /failed: 'plain text'$/)
})
