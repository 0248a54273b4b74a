// Issue 19: a synchronous store that threw once among successes opened the breaker at once (a
// custom store, or SQLite failing fast), sending a second of traffic to onStoreError. Only a
// synchronous failure that held the event loop (a lock wait of the store's busy timeout, or of
// storeTimeoutMs) opens it at once; a quick throw is one failure like any other.
import t from 'tap'
import type { StoreBucket } from '../../index.js'
import { build, requiredOnlyStore } from '../support/helpers.js'

t.test('one quick synchronous throw among successes leaves the breaker closed', async (t) => {
  let calls = 0
  let throwAt = 3
  const base = requiredOnlyStore(t)
  const store = {
    ...base,
    consume: (buckets: readonly StoreBucket[], cost: number, now?: number) => {
      calls++
      if (calls === throwAt) throw new Error('one bad call')
      return base.consume(buckets, cost, now)
    }
  }
  const { app } = await build({ store, onStoreError: 'deny' })
  app.get('/r', { config: { rateLimit: '100/min' } }, async () => 'ok')
  const codes = []
  for (let i = 0; i < 6; i++) codes.push((await app.inject('/r')).statusCode)
  t.same(codes, [200, 200, 503, 200, 200, 200], 'only the failed call is answered by onStoreError')
  t.equal(calls, 6, 'the store was asked every time: the breaker stayed closed')
  throwAt = -1
  await app.close()
})

t.test('a synchronous throw that held the loop past storeTimeoutMs opens the breaker at once', async (t) => {
  let calls = 0
  const base = requiredOnlyStore(t)
  const store = {
    ...base,
    consume: (buckets: readonly StoreBucket[], cost: number, now?: number) => {
      calls++
      if (calls === 2) {
        const end = performance.now() + 30
        while (performance.now() < end) { /* a lock wait */ }
        throw new Error('busy')
      }
      return base.consume(buckets, cost, now)
    }
  }
  const { app } = await build({ store, onStoreError: 'deny', storeTimeoutMs: 20 })
  app.get('/r', { config: { rateLimit: '100/min' } }, async () => 'ok')
  const codes = []
  for (let i = 0; i < 4; i++) codes.push((await app.inject('/r')).statusCode)
  t.same(codes, [200, 503, 503, 503], 'the breaker opened: the store is not asked for a while')
  t.equal(calls, 2)
  await app.close()
})
