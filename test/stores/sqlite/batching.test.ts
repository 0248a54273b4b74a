import t from 'tap'
import fc from 'fast-check'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteStore } from '../../../stores/sqlite.js'
import { storeConformance } from '../../../stores/conformance.js'
import { algorithms } from '../../../algorithms/index.js'
import type { StoreBucket } from '../../../stores/store.js'
import { batchScenarioArb, sameDecisions } from '../../support/batching.js'
import { tempDir } from '../../support/sqlite.js'

// SQLite group commit (batch: true): the calls of one turn in one BEGIN IMMEDIATE transaction,
// decided exactly as one call after another; real database files.

const dir = tempDir(t)
let files = 0
const newPath = (): string => join(dir, `batch-${files++}.db`)
const bucket = (key: string, limit: number): StoreBucket =>
  ({ key, algorithm: algorithms['fixed-window'], params: { limit, windowMs: 60_000, burst: limit } })

await storeConformance(t, {
  name: 'SqliteStore with group commit',
  makeStore: (clock) => new SqliteStore({ path: newPath(), clock, batch: true })
})

t.test('batched decisions equal one-by-one decisions, every algorithm, several windows, costs', async (t) => {
  const batched = new SqliteStore({ path: newPath(), batch: true })
  const single = new SqliteStore({ path: newPath() })
  t.teardown(() => {
    batched.close()
    single.close()
  })
  let run = 0
  await fc.assert(fc.asyncProperty(batchScenarioArb, (scenario) => sameDecisions(scenario, batched, single, String(run++))), { numRuns: 150 })
  t.pass('the same decisions')
})

t.test('one turn is one transaction: another connection sees all of its writes or none', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, batch: true, clock: () => 1_700_000_000_000 })
  t.teardown(() => store.close())
  const pending = Array.from({ length: 20 }, (_, i) => store.consume([bucket(`k${i % 4}`, 3)], 1))
  // nothing is written before the end of the turn
  const reader = new Database(path, { readonly: true })
  t.teardown(() => reader.close())
  const count = (): number => reader.prepare('SELECT count(*) FROM fastify_limiter_v2').pluck().get() as number
  t.equal(count(), 0, 'not yet committed during the turn')
  const decisions = await Promise.all(pending)
  t.equal(count(), 4, 'committed together')
  t.same(decisions.map((d) => d.allowed), Array.from({ length: 20 }, (_, i) => i < 12), 'three per key, in call order')
})

t.test('a transaction that cannot start fails each request of the batch with the coded error', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, batch: true, busyTimeoutMs: 0 })
  t.teardown(() => store.close())
  const locker = new Database(path)
  t.teardown(() => locker.close())
  locker.exec('BEGIN IMMEDIATE')
  const results = await Promise.allSettled([store.consume([bucket('a', 3)], 1), store.consume([bucket('b', 3)], 1)])
  t.same(results.map((r) => r.status), ['rejected', 'rejected'])
  t.same(results.map((r) => (r as PromiseRejectedResult).reason.code), ['FST_LIMITER_SQLITE_BUSY', 'FST_LIMITER_SQLITE_BUSY'])
  locker.exec('ROLLBACK')
  t.equal((await store.consume([bucket('a', 3)], 1)).remaining, 2, 'the failed batch charged nothing')
})

t.test('a request that fails before writing fails alone; the rest of its batch commits', async (t) => {
  const store = new SqliteStore({ path: newPath(), batch: true })
  t.teardown(() => store.close())
  const broken: StoreBucket = {
    key: 'broken',
    algorithm: { ...algorithms['fixed-window'], consume: () => { throw new Error('a broken custom algorithm') } },
    params: { limit: 3, windowMs: 60_000, burst: 3 }
  }
  const results = await Promise.allSettled([store.consume([bucket('a', 3)], 1), store.consume([broken], 1), store.consume([bucket('a', 3)], 1)])
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
  t.equal((results[1] as PromiseRejectedResult).reason.code, 'FST_LIMITER_SQLITE_FAILED')
  t.equal((await store.consume([bucket('a', 3)], 1)).remaining, 0, 'both others were charged')
})

t.test('a damaged row read in a batch is an empty bucket, reported once', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, batch: true, clock: () => 1_700_000_000_000 })
  t.teardown(() => store.close())
  const reported: string[] = []
  store.ready({ damaged: (key) => reported.push(key) })
  await store.consume([bucket('bad', 5)], 1)
  const db = new Database(path)
  db.prepare("UPDATE fastify_limiter_v2 SET state = '7,x' WHERE key = 'bad'").run()
  db.close()
  const decisions = await Promise.all([store.consume([bucket('bad', 5)], 1), store.consume([bucket('bad', 5)], 1)])
  t.same(decisions.map((d) => d.remaining), [4, 3], 'counted from empty, the second call sees the first')
  t.same(reported, ['bad'])
  t.equal(store.stats().damaged, 1)
})

t.test('a write that fails fails the whole batch, and a call without batch, with the coded error', async (t) => {
  const path = newPath()
  const batched = new SqliteStore({ path, batch: true })
  const single = new SqliteStore({ path })
  t.teardown(() => {
    batched.close()
    single.close()
  })
  // a real SQLite failure on write only: reads still work
  const db = new Database(path)
  db.exec('CREATE TRIGGER no_writes BEFORE INSERT ON fastify_limiter_v2 BEGIN SELECT RAISE(ABORT, \'no writes today\'); END')
  db.close()
  const results = await Promise.allSettled([batched.consume([bucket('a', 3)], 1), batched.consume([bucket('b', 3)], 1)])
  t.same(results.map((r) => (r as PromiseRejectedResult).reason?.code), ['FST_LIMITER_SQLITE_FAILED', 'FST_LIMITER_SQLITE_FAILED'])
  t.match((results[0] as PromiseRejectedResult).reason.message, /no writes today/)
  const err = (() => {
    try {
      single.consume([bucket('c', 3)], 1)
    } catch (e) {
      return e as Error & { code?: string }
    }
  })()
  t.equal(err?.code, 'FST_LIMITER_SQLITE_FAILED')
  t.match(err?.message, /no writes today/)
  t.equal(single.stats().rows, 0, 'nothing was written')
})

t.test('batch must be a boolean', async (t) => {
  t.throws(() => new SqliteStore({ path: newPath(), batch: 'yes' as unknown as boolean }), { code: 'FST_LIMITER_INVALID_OPTION' })
})
