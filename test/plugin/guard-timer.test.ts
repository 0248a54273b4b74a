// The store guard times every call with one shared timer. An answered call must leave its
// deadline queue at once: while answered calls stayed queued until their deadline (100 ms by
// default), a server at 25,000 requests/s kept a chain of thousands of them alive, which the
// garbage collector paid for: about 13 µs per request on Redis (BENCHMARKS.md, "Reading").
import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { StoreGuard } from '../../lib/request/guard.js'
import { MemoryStore } from '../../stores/memory.js'
import { Reporter } from '../../lib/observe/report.js'
import { resolveLog } from '../../lib/observe/logging.js'

/** A guard on its own: its deadlines are what these tests drive (`bound`). */
const newGuard = (storeTimeoutMs: number) => new StoreGuard({ store: new MemoryStore(), storeTimeoutMs, clock: undefined }, new Reporter(resolveLog()))

/** Calls `ok` with the answer of `pending`, or `fail` with its failure or its timeout. */
function watch<T> (guard: StoreGuard, pending: PromiseLike<T>, ok: (value: T) => void, fail: (err: unknown) => void): void {
  guard.bound(pending).then(ok, fail)
}

t.test('answered calls leave the deadline queue before their deadline; unanswered ones stay', async (t) => {
  const guard = newGuard(60_000)
  const answers: number[] = []
  let stalled: (v: number) => void = () => {}
  watch(guard, new Promise<number>((resolve) => { stalled = resolve }), (v) => answers.push(v), () => t.fail('timed out'))
  for (let turn = 0; turn < 50; turn++) {
    let answer: (v: number) => void = () => {}
    watch(guard, new Promise<number>((resolve) => { answer = resolve }), (v) => answers.push(v), () => t.fail('timed out'))
    await nextTurn()
    answer(turn)
    await nextTurn()
  }
  t.equal(answers.length, 50)
  t.equal(guard.deadlines.queued, 1, 'only the turn of the call still in flight is queued')
  stalled(-1)
  await nextTurn()
  t.equal(guard.deadlines.queued, 0)
  t.equal(answers.length, 51)
})

t.test('a call still unanswered at its deadline fails with STORE_TIMEOUT, its answered neighbours do not', async (t) => {
  const guard = newGuard(5)
  const outcomes: string[] = []
  watch(guard, Promise.resolve('a'), (v) => outcomes.push(`ok ${v}`), (err) => outcomes.push(`fail ${(err as { code: string }).code}`))
  watch(guard, new Promise(() => {}), (v) => outcomes.push(`ok ${String(v)}`), (err) => outcomes.push(`fail ${(err as { code: string }).code}`))
  const late = guard.bound(new Promise(() => {}))
  await t.rejects(late, { code: 'FST_LIMITER_STORE_TIMEOUT' })
  t.same(outcomes.sort(), ['fail FST_LIMITER_STORE_TIMEOUT', 'ok a'])
  t.equal(guard.deadlines.queued, 0)
})
