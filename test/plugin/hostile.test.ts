// Hostile input: what an attacker controls (addresses, identities, the number of clients) must
// neither open a hole nor take the server down.
import t from 'tap'
import { build, hit } from '../support/helpers.js'
import { MemoryStore, algorithms } from '../../index.js'
import type { AlgorithmName, StoreBucket } from '../../index.js'
import type { Test } from 'tap'

t.test('IPv6 address rotation inside one /64 stays in one bucket', async (t) => {
  const { app } = await build({}, { trustProxy: true })
  app.get('/r', { config: { rateLimit: '3/min' } }, async () => 'ok')
  const codes = []
  for (let i = 0; i < 20; i++) {
    const address = `2001:db8:a:b:${((i * 7919) % 65536).toString(16)}:${i.toString(16)}:1:${(i + 1).toString(16)}`
    codes.push((await app.inject({ url: '/r', headers: { 'x-forwarded-for': address } })).statusCode)
  }
  t.same(codes, [200, 200, 200, ...Array(17).fill(429)])
  t.same(await hit(app, '/r', 1, { 'x-forwarded-for': '2001:db8:a:c::1' }), [200], 'the next /64 is another client')
})

t.test('identities of 1 MB, with newlines, colons, braces or invalid UTF-16 each get their own bucket', async (t) => {
  const identities = [
    'x'.repeat(1024 * 1024),
    'x'.repeat(1024 * 1024 - 1) + 'y',
    'alice\nbob',
    'alice\r\nSet-Cookie: x=1',
    'a:b:c',
    '{tag}',
    '}{',
    '\uD800',
    '\uDFFF',
    '\uD800\uD800',
    '\uFFFD',
    ''.padEnd(300, '\uD800')
  ]
  // the real memory store, recording the keys it is asked for
  class Recording extends MemoryStore {
    longest = 0
    override consume (buckets: readonly StoreBucket[], cost: number, now?: number) {
      for (const b of buckets) this.longest = Math.max(this.longest, b.key.length)
      return super.consume(buckets, cost, now)
    }
  }
  const store = new Recording()
  t.teardown(() => store.close())
  let current = identities[0]
  const { app } = await build({ user: () => current, store })
  app.get('/r', { config: { rateLimit: { user: '1/min' } } }, async () => 'ok')
  for (const id of identities) {
    current = id
    t.same(await hit(app, '/r', 2), [200, 429], JSON.stringify(id.slice(0, 30)))
  }
  t.equal(((await app.rateLimit.stats()).store as { keys: number }).keys, identities.length)
  t.ok(store.longest < 300, `no key is longer than ${store.longest} characters, whatever the identity's size`)
})

/** A memory store of `maxKeys` buckets, and buckets of 5/min for it. */
function limitedStore (t: Test, maxKeys: number, algorithm: AlgorithmName) {
  const store = new MemoryStore({ maxKeys })
  t.teardown(() => store.close())
  const params = { limit: 5, windowMs: 60_000, burst: 5 }
  const bucket = (key: string): StoreBucket[] => [{ key, algorithm: algorithms[algorithm], params }]
  return { store, bucket, now: 1_700_000_000_000 }
}

t.test('1,000,000 distinct clients: the memory store stays within maxKeys', async (t) => {
  const maxKeys = 10_000
  const { store, bucket, now } = limitedStore(t, maxKeys, 'sliding-window')
  const heapBefore = process.memoryUsage().heapUsed
  for (let i = 0; i < 1_000_000; i++) store.consume(bucket(`client-${i}`), 1, now)
  const stats = store.stats()
  t.equal(stats.keys, maxKeys)
  t.equal(stats.evictions, 1_000_000 - maxKeys)
  const grown = process.memoryUsage().heapUsed - heapBefore
  t.ok(grown < 64 * 1024 * 1024, `heap grew ${Math.round(grown / 1024 / 1024)} MB, bounded by maxKeys`)
})

t.test('an evicted bucket lets a blocked client in early by at most one limit, and only after maxKeys others', async (t) => {
  const maxKeys = 1_000
  const { store, bucket, now } = limitedStore(t, maxKeys, 'fixed-window')
  const attacker = bucket('attacker')
  const allowed = () => {
    let n = 0
    for (let i = 0; i < 50; i++) if (store.consume(attacker, 1, now).allowed) n++
    return n
  }
  t.equal(allowed(), 5, 'the limit')
  for (let i = 0; i < maxKeys - 2; i++) store.consume(bucket(`other-${i}`), 1, now)
  t.equal(allowed(), 0, 'fewer than maxKeys other clients: still blocked (and its bucket is touched again)')
  for (let i = 0; i < maxKeys; i++) store.consume(bucket(`more-${i}`), 1, now)
  t.equal(allowed(), 5, 'after maxKeys more recently used buckets it is evicted: one more limit, not more')
  t.equal(allowed(), 0)
})
