import t from 'tap'
import fc from 'fast-check'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteStore } from '../../../stores/sqlite.js'
import { storeConformance } from '../../../stores/conformance.js'
import { algorithms } from '../../../algorithms/index.js'
import type { StoreBucket } from '../../../stores/store.js'
import { banGateAlgorithm } from '../../../algorithms/ban.js'
import { batchScenarioArb, sameDecisions } from '../../support/batching.js'
import { holdLock, tempDir } from '../../support/sqlite.js'
import { thrown } from '../../support/helpers.js'

// SQLite group commit (the default, batch: true): the calls of one turn in one BEGIN IMMEDIATE
// transaction, decided exactly as one call after another; a failed batch decided again call by
// call; synchronous calls after queued ones see them. Real database files.

const dir = tempDir(t)
let files = 0
const newPath = (): string => join(dir, `batch-${files++}.db`)
const bucket = (key: string, limit: number): StoreBucket =>
  ({ key, algorithm: algorithms['fixed-window'], params: { limit, windowMs: 60_000, burst: limit } })

await storeConformance(t, {
  name: 'SqliteStore with group commit (the default)',
  makeStore: (clock) => new SqliteStore({ path: newPath(), clock })
})

t.test('batched decisions equal one-by-one decisions, every algorithm, several windows, costs', async (t) => {
  const batched = new SqliteStore({ path: newPath() })
  const single = new SqliteStore({ path: newPath(), batch: false })
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
  const store = new SqliteStore({ path, clock: () => 1_700_000_000_000 })
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

t.test('a batch writes each key once, with its last state', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, clock: () => 1_700_000_000_000 })
  t.teardown(() => store.close())
  const db = new Database(path)
  t.teardown(() => db.close())
  db.exec(`CREATE TABLE writes (n INTEGER); INSERT INTO writes VALUES (0);
    CREATE TRIGGER count_inserts AFTER INSERT ON fastify_limiter_v2 BEGIN UPDATE writes SET n = n + 1; END;
    CREATE TRIGGER count_updates AFTER UPDATE ON fastify_limiter_v2 BEGIN UPDATE writes SET n = n + 1; END;`)
  const writes = (): number => db.prepare('SELECT n FROM writes').pluck().get() as number
  const decisions = await Promise.all(Array.from({ length: 25 }, (_, i) => store.consume([bucket(i < 20 ? 'k' : 'j', 15)], 1)))
  t.same(decisions.map((d) => d.remaining), [...Array.from({ length: 20 }, (_, i) => Math.max(0, 14 - i)), 14, 13, 12, 11, 10])
  t.equal(writes(), 2, 'one write per key for 25 calls')
  t.equal((await store.consume([bucket('k', 15)], 1)).allowed, false, 'the last state was written: 15 charged')
  t.equal(writes(), 2, 'a denial writes nothing')
})

t.test('a transaction that cannot start: each request, tried again alone, fails with the coded error', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, busyTimeoutMs: 0 })
  t.teardown(() => store.close())
  const lock = holdLock(t, path)
  const results = await Promise.allSettled([store.consume([bucket('a', 3)], 1), store.consume([bucket('b', 3)], 1)])
  t.same(results.map((r) => r.status), ['rejected', 'rejected'])
  t.same(results.map((r) => (r as PromiseRejectedResult).reason.code), ['FST_LIMITER_SQLITE_BUSY', 'FST_LIMITER_SQLITE_BUSY'])
  lock.release()
  t.equal((await store.consume([bucket('a', 3)], 1)).remaining, 2, 'the failed batch charged nothing')
})

t.test('a request that fails before writing fails alone; the rest of its batch commits', async (t) => {
  const store = new SqliteStore({ path: newPath() })
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
  const store = new SqliteStore({ path, clock: () => 1_700_000_000_000 })
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

/** Makes every write of `key` on the file at `path` fail, as SQLite does: `raise` is ABORT (the statement) or ROLLBACK (the transaction). */
function failWritesOf (path: string, key: string, raise: 'ABORT' | 'ROLLBACK', on: 'INSERT' | 'DELETE' = 'INSERT'): void {
  const db = new Database(path)
  db.exec(`CREATE TRIGGER no_${on.toLowerCase()}_${key} BEFORE ${on} ON fastify_limiter_v2 WHEN ${on === 'INSERT' ? 'NEW' : 'OLD'}.key = '${key}'
    BEGIN SELECT RAISE(${raise}, 'no writes of ${key} today'); END`)
  db.close()
}

for (const raise of ['ABORT', 'ROLLBACK'] as const) {
  t.test(`a failed write (RAISE(${raise})) fails the calls that write it, and only them, as one by one`, async (t) => {
    const path = newPath()
    const clock = (): number => 1_700_000_000_000
    const batched = new SqliteStore({ path, clock })
    const single = new SqliteStore({ path: newPath(), clock, batch: false })
    t.teardown(() => {
      batched.close()
      single.close()
    })
    failWritesOf(path, 'b', raise)
    // the second window of each request is its own key: a request's windows all charged, or none
    const calls = ['a', 'b', 'a', 'c', 'b', 'a'].map((key) => [bucket(key, 2), bucket(`${key}2`, 5)])
    const results = await Promise.allSettled(calls.map((buckets) => batched.consume(buckets, 1)))
    t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
    for (const r of results) {
      if (r.status === 'rejected') {
        t.equal(r.reason.code, 'FST_LIMITER_SQLITE_FAILED')
        t.match(r.reason.message, /no writes of b today/)
      }
    }
    const decided = results.flatMap((r) => r.status === 'fulfilled' ? [JSON.stringify(r.value)] : [])
    const alone = calls.filter((_, i) => results[i].status === 'fulfilled').map((buckets) => JSON.stringify(single.consume(buckets, 1)))
    t.same(decided, alone, 'the others decided as one by one: the third request on a is denied')
    t.same(new Database(path, { readonly: true }).prepare('SELECT key FROM fastify_limiter_v2 ORDER BY key').pluck().all(),
      ['a', 'a2', 'c', 'c2'], 'nothing of b written, not even its first window')
  })
}

t.test('a call that makes SQLite roll the transaction back: the rest of the batch never runs outside it', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, clock: () => 1_700_000_000_000 })
  t.teardown(() => store.close())
  await store.consume([bucket('bad', 5)], 1)
  const db = new Database(path)
  db.prepare("UPDATE fastify_limiter_v2 SET state = '7,x' WHERE key = 'bad'").run()
  db.close()
  // deleting the damaged row rolls the whole transaction back, from inside the read of a request
  failWritesOf(path, 'bad', 'ROLLBACK', 'DELETE')
  const results = await Promise.allSettled([store.consume([bucket('a', 5)], 1), store.consume([bucket('bad', 5)], 1), store.consume([bucket('a', 5)], 1)])
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
  t.same(results.map((r) => r.status === 'fulfilled' ? r.value.remaining : r.reason.code), [4, 'FST_LIMITER_SQLITE_FAILED', 3], 'each call answered as it was decided')
  t.equal((await store.consume([bucket('a', 5)], 1)).remaining, 2, 'a charged exactly twice')
})

t.test('a write that fails on every call fails each, with the coded error, batched or not', async (t) => {
  const path = newPath()
  const batched = new SqliteStore({ path })
  const single = new SqliteStore({ path, batch: false })
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
  const err = thrown(() => single.consume([bucket('c', 3)], 1))
  t.equal(err?.code, 'FST_LIMITER_SQLITE_FAILED')
  t.match(err?.message, /no writes today/)
  t.equal(single.stats().rows, 0, 'nothing was written')
})

t.test('a synchronous call sees the consumes queued before it, as their call order says', async (t) => {
  const store = new SqliteStore({ path: newPath(), clock: () => 1_700_000_000_000 })
  t.teardown(() => store.close())
  const k = [bucket('k', 5)]

  const charged = store.consume(k, 2)
  store.refund(k, 2)
  t.equal((await charged).remaining, 3, 'the charge was decided first...')
  t.equal(store.peek(k).remaining, 4, '...and the refund of it, still queued when made, gave it back (a peek of cost 1)')

  const queued = store.consume(k, 1)
  t.equal(store.peek(k).remaining, 3, 'a peek sees a consume still queued')
  t.equal((await queued).remaining, 4)

  const before = store.consume(k, 1)
  store.reset('k')
  t.equal((await before).remaining, 3)
  t.equal((await store.consume(k, 1)).remaining, 4, 'a reset forgets a charge queued before it')

  const counted = store.consume([bucket('other', 5)], 1)
  t.equal(store.stats().keys, 2, 'stats count it')
  await counted

  // a strike that starts a ban: the consume queued before it was not banned yet
  const gate: StoreBucket = { key: '{x}:ban', algorithm: banGateAlgorithm, params: { limit: 5, windowMs: 60_000, burst: 5 } }
  const first = store.consume([gate, bucket('x', 5)], 1)
  t.equal(store.strike('{x}:ban', { after: 1, forMs: 60_000, backoffMilli: 1000, maxMs: 60_000, windowMs: 60_000 }).started, true)
  t.equal((await first).allowed, true, 'decided before the strike')
  t.equal((await store.consume([gate, bucket('x', 5)], 1)).allowed, false, 'banned after it')
})

t.test('concurrency slots do not split a batch: acquire and release leave the queued consumes to the end of the turn', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, clock: () => 1_700_000_000_000 })
  t.teardown(() => store.close())
  const reader = new Database(path, { readonly: true })
  t.teardown(() => reader.close())
  const rows = (): number => reader.prepare('SELECT count(*) FROM fastify_limiter_v2').pluck().get() as number
  const pending = [store.consume([bucket('a', 5)], 1)]
  const slot = store.acquire('a:inflight', 1, 5_000)
  store.release('a:inflight', slot.token)
  pending.push(store.consume([bucket('b', 5)], 1))
  t.equal(rows(), 0, 'still queued')
  await Promise.all(pending)
  t.equal(rows(), 2, 'committed together at the end of the turn')
})

t.test('close() decides the consumes still queued before it closes the file', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, clock: () => 1_700_000_000_000 })
  const pending = store.consume([bucket('a', 5)], 1)
  store.close()
  t.equal((await pending).remaining, 4)
  const reopened = new SqliteStore({ path, clock: () => 1_700_000_000_000, batch: false })
  t.teardown(() => reopened.close())
  t.equal(reopened.consume([bucket('a', 5)], 1).remaining, 3, 'it was written')
})

t.test('batch must be a boolean', async (t) => {
  t.throws(() => new SqliteStore({ path: newPath(), batch: 'yes' as unknown as boolean }), { code: 'FST_LIMITER_INVALID_OPTION' })
})
