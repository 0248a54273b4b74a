import t from 'tap'
import { MemoryStore } from '../../../stores/memory.js'
import { algorithms } from '../../../algorithms/index.js'
import type { AlgorithmName } from '../../../algorithms/index.js'
import type { StoreBucket } from '../../../stores/store.js'

// The memory store keeps buckets in slots of typed arrays behind its own hash table (see
// stores/memory.ts). These cases drive the table through growth, deletion and reuse, and
// compare it with a plain Map-based LRU.

const bucket = (key: string, name: AlgorithmName = 'fixed-window', limit = 1, windowMs = 1000): StoreBucket => ({
  key, algorithm: algorithms[name], params: { limit, windowMs, burst: limit }
})

/** A deterministic pseudo-random sequence (mulberry32). */
function random (seed: number): () => number {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test('agrees with a Map-based LRU on random traffic, resets and sweeps', async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = random(seed)
    const maxKeys = 40
    const store = new MemoryStore({ maxKeys })
    // the reference: key -> expiry, in recency order (oldest first)
    const model = new Map<string, number>()
    let evictions = 0
    let now = 0
    for (let step = 0; step < 3000; step++) {
      now += Math.floor(next() * 40)
      const key = `k${Math.floor(next() * 120)}`
      const op = next()
      if (op < 0.05) {
        store.reset(key)
        model.delete(key)
      } else if (op < 0.07) {
        const swept = store.sweep(now)
        let expected = 0
        for (const [k, expires] of model) {
          if (expires <= now) {
            model.delete(k)
            expected++
          }
        }
        t.equal(swept, expected, `seed ${seed} step ${step}: sweep`)
      } else {
        const live = model.get(key)
        if (live !== undefined) {
          model.delete(key)
          model.set(key, live)
        }
        const allowed = live === undefined || live <= now
        t.equal(store.consume([bucket(key)], 1, now).allowed, allowed, `seed ${seed} step ${step}: ${key}`)
        if (allowed) {
          if (live === undefined && model.size === maxKeys) {
            model.delete(model.keys().next().value as string)
            evictions++
          }
          model.delete(key)
          model.set(key, (Math.floor(now / 1000) + 1) * 1000)
        }
      }
    }
    const stats = store.stats()
    t.equal(stats.keys, model.size, `seed ${seed}: keys`)
    t.equal(stats.evictions, evictions, `seed ${seed}: evictions`)
    store.close()
  }
})

t.test('grows past its first arrays and keeps every key, also after deletions', async (t) => {
  const store = new MemoryStore({ maxKeys: 5000 })
  t.teardown(() => store.close())
  for (let i = 0; i < 1500; i++) store.consume([bucket(`a${i}`)], 1, 0)
  for (let i = 0; i < 1500; i += 2) store.reset(`a${i}`)
  // the second growth rebuilds the table around the freed slots
  for (let i = 0; i < 3000; i++) store.consume([bucket(`b${i}`)], 1, 0)
  let denied = 0
  for (let i = 1; i < 1500; i += 2) if (!store.consume([bucket(`a${i}`)], 1, 1).allowed) denied++
  t.equal(denied, 750, 'every key kept is still found')
  t.equal(store.consume([bucket('a0')], 1, 1).allowed, true, 'a reset key starts over')
  t.equal(store.stats().keys, 750 + 3000 + 1)
  t.equal(store.stats().evictions, 0)
  store.clear()
  t.equal(store.stats().keys, 0)
  t.equal(store.consume([bucket('b1')], 1, 1).allowed, true, 'cleared')
})

t.test('states of other algorithms, and counts too large to pack, are kept as objects', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const huge = 2 ** 40
  const cases: StoreBucket[] = [
    bucket('tb', 'token-bucket', 5, 1000),
    bucket('gcra', 'gcra', 5, 1000),
    bucket('fw-huge', 'fixed-window', huge, 1),
    bucket('sw-huge', 'sliding-window', huge, 1)
  ]
  const before = store.stats().bytes
  for (const b of cases) {
    const cost = b.params.limit === huge ? 2 ** 33 : 1
    t.equal(store.consume([b], cost, 0).remaining, b.params.limit - cost, b.key)
    t.equal(store.consume([b], cost, 0).remaining, b.params.limit - 2 * cost, `${b.key}: its state was kept`)
  }
  t.ok(store.stats().bytes > before)
  store.reset('tb')
  t.equal(store.consume([cases[0]], 1, 0).remaining, 4, 'reset')
  t.equal(store.stats().keys, 4)
})

t.test('several windows with maxKeys below their number still charge consistently', async (t) => {
  const store = new MemoryStore({ maxKeys: 1 })
  t.teardown(() => store.close())
  const both = [bucket('s', 'fixed-window', 5, 1000), bucket('m', 'fixed-window', 5, 60_000)]
  t.equal(store.consume([both[0]], 1, 0).remaining, 4)
  // s exists and m is new: s is written first, then m evicts it (one key fits)
  t.equal(store.consume(both, 1, 1).allowed, true)
  t.equal(store.stats().keys, 1)
  t.equal(store.consume([both[1]], 1, 2).remaining, 3, 'm kept its own count')
})
