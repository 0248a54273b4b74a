// The default SQLite store (group commit) against a write lock another process holds: every
// request of a batch is answered (by the store once the lock is free, or by onStoreError), and
// the event loop is never held much longer than busyTimeoutMs: the calls of a failed batch are
// tried again alone without waiting for the lock a second time. Real files, a real second process.
import t from 'tap'
import { once } from 'node:events'
import { join } from 'node:path'
import { SqliteStore, algorithms } from '../../../index.js'
import type { StoreBucket } from '../../../index.js'
import { Clock, build, forkFixture, thrown } from '../../support/helpers.js'
import { tempDir } from '../../support/sqlite.js'

const dir = tempDir(t)
let files = 0
const newPath = (): string => join(dir, `locked-${files++}.db`)
const bucket: StoreBucket[] = [{ key: 'k', algorithm: algorithms['fixed-window'], params: { limit: 5, windowMs: 60_000, burst: 5 } }]

/**
 * The longest the event loop went without turning while `fn` ran, in ms on the monotonic clock:
 * the longest gap between two ticks of a 5 ms interval, up to the first tick after `fn` ends.
 */
async function longestStall<T> (fn: () => Promise<T>): Promise<{ value: T, stallMs: number }> {
  let last = performance.now()
  let longest = 0
  let ended: (() => void) | undefined
  const meter = setInterval(() => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
    ended?.()
  }, 5)
  try {
    const value = await fn()
    await new Promise<void>((resolve) => { ended = resolve })
    return { value, stallMs: longest }
  } finally {
    clearInterval(meter)
  }
}

t.test('a lock held past busyTimeoutMs: one wait for the whole batch, each call rejected with the coded error, nothing charged', async (t) => {
  const path = newPath()
  const busyTimeoutMs = 250
  const store = new SqliteStore({ path, busyTimeoutMs, clock: new Clock().read })
  t.teardown(() => store.close())
  t.equal((await store.consume(bucket, 1)).remaining, 4)
  const locker = await forkFixture(t, 'sqlite-locker.ts', [path])

  const { value: results, stallMs } = await longestStall(async () =>
    await Promise.allSettled(Array.from({ length: 20 }, () => store.consume(bucket, 1))))
  t.same(results.map((r) => r.status), results.map(() => 'rejected'), 'every call answered')
  t.same(new Set(results.map((r) => (r as PromiseRejectedResult).reason.code)), new Set(['FST_LIMITER_SQLITE_BUSY']))
  // waiting busyTimeoutMs again for each call tried alone would hold it 21 times as long (5.25 s)
  t.ok(stallMs >= busyTimeoutMs * 0.9 && stallMs < busyTimeoutMs * 4, `the loop stalled ${Math.round(stallMs)} ms: about busyTimeoutMs (${busyTimeoutMs})`)

  locker.send('release')
  await once(locker, 'message')
  t.equal((await store.consume(bucket, 1)).remaining, 3, 'the failed calls charged nothing')
  // the waits of the failed batch were shortened for its own retries only
  const again = await forkFixture(t, 'sqlite-locker.ts', [path])
  const { value: late, stallMs: second } = await longestStall(async () => await Promise.allSettled([store.consume(bucket, 1)]))
  t.equal((late[0] as PromiseRejectedResult).reason.code, 'FST_LIMITER_SQLITE_BUSY')
  t.ok(second >= busyTimeoutMs * 0.9, `the next batch waits its whole busyTimeoutMs again (${Math.round(second)} ms)`)
  again.send('release')
  await once(again, 'message')
})

t.test('a lock let go while the batch waits: every call is decided by the store, as one by one', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, busyTimeoutMs: 10_000, clock: new Clock().read })
  t.teardown(() => store.close())
  t.equal((await store.consume(bucket, 1)).remaining, 4)
  const locker = await forkFixture(t, 'sqlite-locker.ts', [path])
  const probe = new SqliteStore({ path, busyTimeoutMs: 0, batch: false })
  t.teardown(() => probe.close())
  t.equal(thrown(() => probe.consume(bucket, 1))?.code, 'FST_LIMITER_SQLITE_BUSY', 'the lock is held as the batch is made')
  // let go 200 ms after the message arrives: the batch below is waiting by then
  locker.send(200)
  const decisions = await Promise.all(Array.from({ length: 6 }, () => store.consume(bucket, 1)))
  t.same(decisions.map((d) => [d.allowed, d.remaining]), [[true, 3], [true, 2], [true, 1], [true, 0], [false, 0], [false, 0]])
  await once(locker, 'message')
})

t.test('through the plugin: each request of a locked batch follows onStoreError at once, then the store decides again', async (t) => {
  const path = newPath()
  const busyTimeoutMs = 200
  // the shorthand as users write it: busyTimeoutMs is storeTimeoutMs, group commit is on
  const { app, clock } = await build({ sqlite: path, storeTimeoutMs: busyTimeoutMs })
  t.teardown(() => app.close())
  app.get('/r', { config: { rateLimit: '5/min' } }, async () => ({ ok: true }))
  t.equal((await app.inject('/r')).headers['x-ratelimit-remaining'], '4')
  const locker = await forkFixture(t, 'sqlite-locker.ts', [path])

  const { value: replies, stallMs } = await longestStall(async () => await Promise.all(Array.from({ length: 30 }, () => app.inject('/r'))))
  t.equal(replies.length, 30, 'every request answered')
  // onStoreError 'fallback': the local memory store, empty, allows the first 5 of its own count
  t.same(replies.map((r) => r.statusCode).sort(), [...Array(5).fill(200), ...Array(25).fill(429)])
  t.ok(stallMs < busyTimeoutMs * 5, `the loop stalled ${Math.round(stallMs)} ms, not busyTimeoutMs (${busyTimeoutMs}) per request`)
  t.ok((await app.rateLimit.stats()).storeErrors >= 5, 'store errors counted')

  locker.send('release')
  await once(locker, 'message')
  clock.advance(1_000) // past the breaker: the store is asked again
  const again = await app.inject('/r')
  t.equal(again.statusCode, 200)
  t.equal(again.headers['x-ratelimit-remaining'], '3', 'decided by SQLite, which the locked batch did not charge')
})
