// The batched SQLite store's promise-free way (`consumeTo`), as the Redis store's: the group
// commit answers each request's sink, a sink that throws never keeps the others of its batch from
// their answers, and the plugin takes this way when the store has it. Real database files.
import t from 'tap'
import { join } from 'node:path'
import { algorithms } from '../../../algorithms/index.js'
import { consumeTo } from '../../../lib/core/store.js'
import type { StoreBucket, StoreDecision } from '../../../lib/core/store.js'
import { SqliteStore } from '../../../stores/sqlite.js'
import { build } from '../../support/helpers.js'
import { decidedWhileOneThrows, failedWhileOneThrows } from '../../support/sinks.js'
import { holdLock, tempDir } from '../../support/sqlite.js'

const dir = tempDir(t)
let files = 0
const newPath = (): string => join(dir, `sinks-${files++}.db`)
const bucket: StoreBucket = { key: '{sinks}:fw', algorithm: algorithms['fixed-window'], params: { limit: 2, windowMs: 60_000, burst: 2 } }
const NOW = 1_767_225_600_000
/** The store's sink way, there with group commit. */
const sinkTo = (store: SqliteStore): NonNullable<SqliteStore[typeof consumeTo]> => store[consumeTo] as NonNullable<SqliteStore[typeof consumeTo]>

t.test('the sink way is there with group commit only: without it the plugin calls the synchronous store', async (t) => {
  const batched = new SqliteStore({ path: newPath() })
  const single = new SqliteStore({ path: newPath(), batch: false })
  t.teardown(() => {
    batched.close()
    single.close()
  })
  t.type(batched[consumeTo], 'function')
  t.equal(single[consumeTo], undefined)
})

t.test('a sink that throws: the others of its batch still get their decisions, and the error is thrown', async (t) => {
  const store = new SqliteStore({ path: newPath() })
  t.teardown(() => store.close())
  const { decisions, caught, thrown } = await decidedWhileOneThrows(3, (sink) => sinkTo(store)([bucket], 1, NOW, sink))
  t.same(decisions.map((d) => d?.allowed), [true, true, false], 'one batch, decided in order')
  t.same(caught, [thrown])
})

t.test('a batch that fails: each sink hears it, even when one of them throws', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path, busyTimeoutMs: 0 })
  t.teardown(() => store.close())
  const lock = holdLock(t, path)
  const { failures, caught } = await failedWhileOneThrows((sink) => sinkTo(store)([bucket], 1, NOW, sink))
  t.match(failures, [{ code: 'FST_LIMITER_SQLITE_BUSY' }, { code: 'FST_LIMITER_SQLITE_BUSY' }])
  t.match(caught, [{ message: 'a failing sink that throws' }])
  lock.release()
})

t.test('a clock that throws fails the sink at once, and queues nothing', async (t) => {
  const broken = new Error('no time today')
  const store = new SqliteStore({ path: newPath(), clock: () => { throw broken } })
  t.teardown(() => store.close())
  const failed: unknown[] = []
  sinkTo(store)([bucket], 1, undefined, { decided: () => t.fail('decided'), failed: (err) => failed.push(err) })
  t.same(failed, [broken])
  const decided = await new Promise<StoreDecision>((resolve, reject) => {
    sinkTo(store)([bucket], 1, NOW, { decided: resolve, failed: reject })
  })
  t.equal(decided.remaining, 1, 'a call with its own time is decided, and is the first to count')
})

t.test('the plugin decides through the sinks: consume() and its promises are never used', async (t) => {
  class Counted extends SqliteStore {
    calls = 0
    override consume (buckets: readonly StoreBucket[], cost: number, now?: number): Promise<StoreDecision> {
      this.calls++
      return super.consume(buckets, cost, now)
    }
  }
  const store = new Counted({ path: newPath() })
  t.teardown(() => store.close())
  const { app } = await build({ store })
  t.teardown(() => app.close())
  app.get('/', { config: { rateLimit: '3/min' } }, async () => 'ok')
  const replies = await Promise.all(Array.from({ length: 5 }, async () => await app.inject('/')))
  t.same(replies.map((r) => r.statusCode), [200, 200, 200, 429, 429])
  t.equal(store.calls, 0)
})
