import t from 'tap'
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { SqliteStore, algorithms } from '../../../index.js'
import type { StoreBucket } from '../../../index.js'
import { Clock, build, forkFixture, hit, thrown } from '../../support/helpers.js'
import { tempDir } from '../../support/sqlite.js'

const dir = tempDir(t)

t.test('4 processes firing 400 requests at once on one file allow exactly the limit of 37', async (t) => {
  const path = join(dir, 'shared.db')
  const now = String(new Clock().now)
  const workers = await Promise.all(Array.from({ length: 4 }, async () => forkFixture(t, 'sqlite-worker.ts', [path, now, '100'])))
  const results = workers.map(async (worker) => (await once(worker, 'message'))[0] as Record<string, number>)
  for (const worker of workers) worker.send('go')
  const codes = await Promise.all(results)
  const total = (status: string) => codes.reduce((sum, c) => sum + (c[status] ?? 0), 0)
  t.equal(total('200'), 37, 'allowed across all processes')
  t.equal(total('429'), 363, 'denied across all processes')
  t.comment(`allowed per process: ${codes.map((c) => c['200'] ?? 0).join(', ')}`)

  // The app restarted on the same file (same instant) still denies: limits survive restarts.
  const { app } = await build({ sqlite: path, clock: () => Number(now) })
  app.get('/r', { config: { rateLimit: '37/hour' } }, async () => ({ ok: true }))
  t.same(await hit(app, '/r', 1), [429])
  await app.close()
})

// The synchronous store (batch: false): its call throws, and the plugin's breaker opens at the
// first such failure. The default store, with group commit, meets the same lock in locked.test.ts.
t.test('a lock held past busyTimeoutMs by another process is a coded error, and loses nothing', async (t) => {
  const path = join(dir, 'locked.db')
  const clock = new Clock()
  const bucket: StoreBucket[] = [{ key: 'k', algorithm: algorithms['fixed-window'], params: { limit: 5, windowMs: 60_000, burst: 5 } }]
  const store = new SqliteStore({ path, busyTimeoutMs: 200, cleanupIntervalMs: 50, clock: clock.read, batch: false })
  t.equal(store.consume(bucket, 1).remaining, 4)
  const { app, clock: appClock } = await build({ sqlite: { path, busyTimeoutMs: 200, batch: false } })
  app.get('/r', { config: { rateLimit: '5/min' } }, async () => ({ ok: true }))
  await app.ready()

  const locker = await forkFixture(t, 'sqlite-locker.ts', [path])
  const began = performance.now()
  const err = thrown(() => store.consume(bucket, 1))
  const waited = performance.now() - began
  t.equal(err?.code, 'FST_LIMITER_SQLITE_BUSY')
  t.match(err?.message, /consume gave up: the database stayed locked .* busyTimeoutMs \(200 ms\)/)
  t.ok(waited >= 150 && waited < 2_000, `gave up after about busyTimeoutMs (${Math.round(waited)} ms)`)

  // Through the plugin the request follows onStoreError (default 'fallback'): it is decided on
  // the local memory store after about busyTimeoutMs, and the next ones skip the store at once.
  const asked = performance.now()
  const reply = await app.inject('/r')
  t.ok(performance.now() - asked < 2_000, 'the request did not hang')
  t.equal(reply.statusCode, 200)
  t.equal(reply.headers['x-ratelimit-remaining'], '4', 'counted by the fallback store')
  t.equal((await app.rateLimit.stats()).storeErrors, 1)
  t.same(await hit(app, '/r', 1), [200])
  t.equal((await app.rateLimit.stats()).storeErrors, 1, 'while the breaker is open the locked store is not asked')

  // The cleanup timer meets the same lock: it counts the failure and carries on.
  await sleep(120)
  t.ok(store.stats().cleanupErrors >= 1, 'a failed sweep is counted, not thrown')

  locker.send('release')
  await once(locker, 'message')
  t.equal(store.consume(bucket, 1).remaining, 3, 'the failed attempts charged nothing; the earlier one is kept')
  appClock.advance(1_000) // past the breaker: the store is asked again
  const again = await app.inject('/r')
  t.equal(again.statusCode, 200, 'the plugin works again once the lock is gone')
  t.equal(again.headers['x-ratelimit-remaining'], '4', 'decided by SQLite again (its first count of this route)')
  store.close()
  await app.close()
})
