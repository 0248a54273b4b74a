import t from 'tap'
import { MemoryStore } from '../../../stores/memory.js'
import { algorithms } from '../../../algorithms/index.js'
import type { StoreBucket } from '../../../stores/store.js'
import { childArgs, thrown } from '../../support/helpers.js'

const bucket = (key: string, limit = 2, windowMs = 1000): StoreBucket => ({
  key, algorithm: algorithms['fixed-window'], params: { limit, windowMs, burst: limit }
})

t.test('defaults and option checks', async (t) => {
  const store = new MemoryStore()
  t.equal(store.maxKeys, 100_000)
  t.equal(store.cleanupIntervalMs, 60_000)
  store.close()
  for (const [options, code] of [
    [{ maxKeys: 0 }, 'FST_LIMITER_INVALID_OPTION'],
    [{ maxKeys: 1.5 }, 'FST_LIMITER_INVALID_OPTION'],
    [{ cleanupIntervalMs: -1 }, 'FST_LIMITER_INVALID_OPTION'],
    [{ clock: 'now' }, 'FST_LIMITER_INVALID_OPTION'],
    [null, 'FST_LIMITER_INVALID_OPTION']
  ] as const) {
    const err = thrown(() => new MemoryStore(options as never))
    t.equal(err?.code, code, JSON.stringify(options))
  }
  t.match(thrown(() => new MemoryStore({ maxKeys: 0 }))?.message, 'MemoryStore maxKeys: expected an integer >= 1, received 0')
})

t.test('consume counts, denies, and a denial consumes nothing', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const b = [bucket('k')]
  t.equal(store.consume(b, 1, 0).allowed, true)
  t.equal(store.consume(b, 1, 1).remaining, 0)
  const denied = store.consume(b, 1, 2)
  t.equal(denied.allowed, false)
  t.equal(denied.retryAfterMs, 998)
  t.equal(store.consume(b, 1, 1000).allowed, true, 'the next window')
})

t.test('uses its own clock when no time is passed', async (t) => {
  let now = 5_000
  const store = new MemoryStore({ clock: () => now })
  t.teardown(() => store.close())
  t.equal(store.consume([bucket('k', 1)], 1).now, 5_000)
  t.equal(store.consume([bucket('k', 1)], 1).allowed, false)
  now = 6_000
  t.equal(store.consume([bucket('k', 1)], 1).allowed, true)
})

t.test('expired state is treated as absent and swept', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  store.consume([bucket('a', 1)], 1, 0) // window [0, 1000)
  store.consume([bucket('b', 1)], 1, 1500) // window [1000, 2000)
  t.equal(store.stats().keys, 2)
  t.equal(store.sweep(999), 0)
  t.equal(store.sweep(1000), 1, 'a expired at the end of its window')
  t.equal(store.stats().keys, 1)
  t.equal(store.consume([bucket('b', 1)], 1, 1999).allowed, false, 'b is still there')
  t.equal(store.consume([bucket('b', 1)], 1, 2000).allowed, true, 'expired state reads as absent even before a sweep')
})

t.test('LRU eviction at maxKeys, counted in stats', async (t) => {
  const store = new MemoryStore({ maxKeys: 3 })
  t.teardown(() => store.close())
  for (const key of ['a', 'b', 'c']) store.consume([bucket(key, 1)], 1, 0)
  store.consume([bucket('a', 1)], 1, 1) // touch a (denied, but read)
  store.consume([bucket('d', 1)], 1, 2) // evicts b, the least recently used
  const stats = store.stats()
  t.equal(stats.keys, 3)
  t.equal(stats.evictions, 1)
  t.equal(stats.maxKeys, 3)
  t.ok(stats.bytes > 0)
  t.equal(store.consume([bucket('a', 1)], 1, 3).allowed, false, 'a survived')
  t.equal(store.consume([bucket('b', 1)], 1, 3).allowed, true, 'b was evicted and starts over')
})

t.test('a charge makes its bucket the most recently used: a debt is not evicted first', async (t) => {
  const store = new MemoryStore({ maxKeys: 2 })
  t.teardown(() => store.close())
  store.consume([bucket('a', 1)], 1, 0)
  store.consume([bucket('b', 1)], 1, 0)
  store.charge([bucket('a', 1)], 5, 1) // a in debt, and the most recently used
  store.consume([bucket('c', 1)], 1, 2) // evicts b
  t.equal(store.consume([bucket('a', 1)], 1, 3).allowed, false, 'a kept its debt')
  t.equal(store.consume([bucket('b', 1)], 1, 3).allowed, true, 'b was evicted')
})

t.test('reset and clear', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  store.consume([bucket('a', 1)], 1, 0)
  store.consume([bucket('b', 1)], 1, 0)
  store.reset('a')
  t.equal(store.consume([bucket('a', 1)], 1, 1).allowed, true)
  t.equal(store.consume([bucket('b', 1)], 1, 1).allowed, false)
  store.clear()
  t.equal(store.stats().keys, 0)
})

t.test('the cleanup timer runs, and is cleared on close', async (t) => {
  let now = 0
  const store = new MemoryStore({ cleanupIntervalMs: 5, clock: () => now })
  store.consume([bucket('a', 1)], 1, 0)
  now = 10_000
  // wait for the real timer to fire (bounded): the timer is what is under test
  const deadline = Date.now() + 5_000
  while (store.stats().keys !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(store.stats().keys, 0, 'swept by the timer')
  store.close()
  store.close()
  store.consume([bucket('b', 1)], 1, 0)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(store.stats().keys, 1, 'no sweep after close')
})

t.test('the cleanup timer never keeps the process alive', async (t) => {
  const { execFileSync } = await import('node:child_process')
  const started = Date.now()
  execFileSync(process.execPath, childArgs('test/support/fixtures/memory-store-open.ts'), { cwd: new URL('../../..', import.meta.url), timeout: 30_000 })
  t.ok(Date.now() - started < 30_000, 'the process exited on its own, with the store still open')
})

t.test('several windows are all-or-nothing', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const both = [bucket('s', 2, 1000), bucket('m', 3, 60_000)]
  t.equal(store.consume(both, 1, 0).allowed, true)
  t.equal(store.consume(both, 1, 1).allowed, true)
  const denied = store.consume(both, 1, 2)
  t.equal(denied.allowed, false)
  t.equal(denied.index, 0, 'the per-second window denied')
  t.equal(store.consume([bucket('m', 3, 60_000)], 1, 3).remaining, 0, 'the minute window was not charged by the denial')
})
