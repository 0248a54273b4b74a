// Issue 14, item 2, at the unit level: storeTimeoutMs counted time the event loop spent
// elsewhere. The guard now times a call from when it is sent (the first free turn of the loop
// after the call) and, when its one shared timer fires late, lets pending I/O run before it
// declares a timeout. These drive StoreGuard with real sockets and a real busy loop.
import t from 'tap'
import type { Test } from 'tap'
import { once } from 'node:events'
import { createServer, connect } from 'node:net'
import type { Socket } from 'node:net'
import { StoreGuard } from '../../lib/request/guard.js'
import { MemoryStore } from '../../stores/memory.js'
import { Reporter } from '../../lib/observe/report.js'
import { resolveLog } from '../../lib/observe/logging.js'

/** A guard on its own: its deadlines are what these tests drive (`bound`). */
const newGuard = (storeTimeoutMs: number) => new StoreGuard({ store: new MemoryStore(), storeTimeoutMs, clock: undefined }, new Reporter(resolveLog()))

function busyWait (ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) { /* nothing else runs */ }
}

function outcome<T> (guard: StoreGuard, pending: PromiseLike<T>): Promise<{ ok?: T, err?: { code?: string } }> {
  return guard.bound(pending).then((ok) => ({ ok }), (err: unknown) => ({ err: err as { code?: string } }))
}

/** A loopback socket pair: what one end writes, the other reads through the event loop's poll phase. */
async function pair (t: Test): Promise<{ client: Socket, server: Socket }> {
  const listener = createServer()
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const accepted = once(listener, 'connection')
  const client = connect((listener.address() as { port: number }).port, '127.0.0.1')
  await once(client, 'connect')
  const [server] = await accepted as [Socket]
  t.teardown(() => {
    client.destroy()
    server.destroy()
    listener.close()
  })
  return { client, server }
}

t.test('a reply that arrived while the loop was busy past the deadline wins over the timeout', async (t) => {
  const guard = newGuard(50)
  const { client, server } = await pair(t)
  const reply = once(client, 'data').then(([data]) => String(data))
  const result = outcome(guard, reply)
  await new Promise((resolve) => setImmediate(resolve)) // the call is stamped as sent
  setTimeout(() => busyWait(200), 10) // the loop is busy from 10 to 210 ms
  setTimeout(() => server.write('reply'), 30) // due during the busy time: runs right after it, before the guard's timer
  t.same(await result, { ok: 'reply' })
})

t.test('time the loop spends before it can send is not charged to the call', async (t) => {
  const guard = newGuard(50)
  let answer!: (value: string) => void
  const result = outcome(guard, new Promise<string>((resolve) => { answer = resolve }))
  busyWait(200) // this turn is busy; the call cannot be sent before it ends
  setTimeout(() => answer('late but in time'), 30)
  t.same(await result, { ok: 'late but in time' })
})

t.test('a call with no answer still times out, and a late answer or error is ignored', async (t) => {
  const guard = newGuard(30)
  let answer!: (value: string) => void
  let refuse!: (err: Error) => void
  const hung = outcome(guard, new Promise<string>((resolve) => { answer = resolve }))
  const failing = outcome(guard, new Promise<string>((_resolve, reject) => { refuse = reject }))
  t.match(await hung, { err: { code: 'FST_LIMITER_STORE_TIMEOUT' } })
  t.match(await failing, { err: { code: 'FST_LIMITER_STORE_TIMEOUT' } })
  answer('too late')
  refuse(new Error('too late'))
  await new Promise((resolve) => setImmediate(resolve))
})

t.test('one timer serves every call in flight, batch after batch', async (t) => {
  const guard = newGuard(40)
  const quick = Array.from({ length: 100 }, (_, i) => outcome(guard, Promise.resolve(i)))
  const first = outcome(guard, new Promise(() => {}))
  await new Promise((resolve) => setTimeout(resolve, 10))
  const answers: Array<(value: number) => void> = []
  const second = Array.from({ length: 3 }, () => outcome(guard, new Promise<number>((resolve) => { answers.push(resolve) })))
  const third = outcome(guard, new Promise(() => {}))
  t.same((await Promise.all(quick)).map((r) => r.ok), Array.from({ length: 100 }, (_, i) => i))
  t.match(await first, { err: { code: 'FST_LIMITER_STORE_TIMEOUT' } }, 'the first batch times out on its own deadline')
  answers.forEach((answer, i) => answer(i))
  t.same(await Promise.all(second), [{ ok: 0 }, { ok: 1 }, { ok: 2 }], 'a later batch still had time')
  t.match(await third, { err: { code: 'FST_LIMITER_STORE_TIMEOUT' } }, 'and its unanswered call times out after')
  t.same(await outcome(guard, Promise.resolve('again')), { ok: 'again' }, 'the queue empties and starts again')
})
