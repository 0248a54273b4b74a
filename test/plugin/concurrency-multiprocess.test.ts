// Concurrency limits across processes: app servers in processes of their own, sharing one
// SQLite file or one redis-server, never hold more than the limit together; and the slots of
// an app server killed while holding them come back when their leases end (on the clock the
// next server decides at, so no test waits for a lease).
import t from 'tap'
import type { Test } from 'tap'
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { tempDir } from '../support/sqlite.js'
import { redisAvailable, startRedis } from '../support/redis.js'

const fixture = new URL('../support/fixtures/slot-server.ts', import.meta.url).pathname
const NOW = 1_700_000_000_000
const LEASE = 60_000

/** Forks an app server and resolves when it is ready. */
async function server (t: Test, args: Array<string | number>): Promise<ChildProcess> {
  const child = fork(fixture, args.map(String))
  t.teardown(() => { child.kill('SIGKILL') })
  await once(child, 'message')
  return child
}

async function ask<T> (child: ChildProcess, message: string): Promise<T> {
  const reply = once(child, 'message')
  child.send(message)
  return (await reply)[0] as T
}

interface Counts { entered: number, denied: number }

async function exactTogether (t: Test, kind: 'sqlite' | 'redis', target: string | number, servers: number): Promise<void> {
  const children = await Promise.all(Array.from({ length: servers }, async () => await server(t, [kind, target, 5, NOW, LEASE])))
  const counts = await Promise.all(children.map(async (child) => await ask<Counts>(child, 'go')))
  t.equal(counts.reduce((sum, c) => sum + c.entered, 0), 3, `3 in flight across ${servers} app servers`)
  t.equal(counts.reduce((sum, c) => sum + c.denied, 0), servers * 5 - 3)
  t.comment(`in flight per server: ${counts.map((c) => c.entered).join(', ')}`)
  await Promise.all(children.map(async (child) => await ask(child, 'release')))

  // the same once more: every slot was given back
  const again = await Promise.all(Array.from({ length: servers }, async () => await server(t, [kind, target, 5, NOW, LEASE])))
  const second = await Promise.all(again.map(async (child) => await ask<Counts>(child, 'go')))
  t.equal(second.reduce((sum, c) => sum + c.entered, 0), 3, 'the released slots are free again')

  // a server killed while holding slots: they stay taken until their leases end
  for (const child of again) child.kill('SIGKILL')
  const before = await server(t, [kind, target, 2, NOW + LEASE - 1, LEASE])
  t.same(await ask<Counts>(before, 'go'), { entered: 0, denied: 2 }, 'the dead servers\' slots are held until their leases end')
  const after = await server(t, [kind, target, 5, NOW + LEASE, LEASE])
  t.same(await ask<Counts>(after, 'go'), { entered: 3, denied: 2 }, 'and come back by themselves when they do')
  await ask(before, 'release')
  await ask(after, 'release')
}

t.test('4 processes on one SQLite file hold at most the limit together', async (t) => {
  await exactTogether(t, 'sqlite', join(tempDir(t), 'slots.db'), 4)
})

t.test('2 app servers on one redis-server hold at most the limit together', async (t) => {
  if (!redisAvailable(t)) return
  const redis = await startRedis(t)
  await exactTogether(t, 'redis', redis.port, 2)
})
