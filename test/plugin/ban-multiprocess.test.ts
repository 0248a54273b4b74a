// Bans across processes: app servers in processes of their own, sharing one SQLite file or one
// redis-server, start exactly one ban between them (onBan is called once, in one process), and
// every request after it is answered as banned whichever server gets it.
import t from 'tap'
import type { Test } from 'tap'
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { tempDir } from '../support/sqlite.js'
import { redisAvailable, startRedis } from '../support/redis.js'

const fixture = new URL('../support/fixtures/ban-server.ts', import.meta.url).pathname
const NOW = 1_700_000_000_000

async function server (t: Test, args: Array<string | number>): Promise<ChildProcess> {
  const child = fork(fixture, args.map(String))
  t.teardown(() => { child.kill('SIGKILL') })
  await once(child, 'message')
  return child
}

interface Result { codes: number[], bans: number }

async function oneBan (t: Test, kind: 'sqlite' | 'redis', target: string | number, servers: number, extend = false): Promise<void> {
  const children = await Promise.all(Array.from({ length: servers }, async () => await server(t, [kind, target, 10, NOW, extend ? 'extend' : ''])))
  const results = await Promise.all(children.map(async (child) => {
    const reply = once(child, 'message')
    child.send('go')
    return (await reply)[0] as Result
  }))
  const codes = results.flatMap((r) => r.codes)
  t.equal(results.reduce((sum, r) => sum + r.bans, 0), 1, `onBan once across ${servers} app servers`)
  t.equal(codes.filter((c) => c === 200).length, 1, 'the rate allowed one')
  t.equal(codes.filter((c) => c === 429).length, 1, 'the first denial: an ordinary 429')
  t.equal(codes.filter((c) => c === 403).length, servers * 10 - 2, 'every other request: banned')
}

t.test('4 processes on one SQLite file start one ban', async (t) => {
  await oneBan(t, 'sqlite', join(tempDir(t), 'bans.db'), 4)
})

t.test('2 app servers on one redis-server start one ban', async (t) => {
  if (!redisAvailable(t)) return
  const redis = await startRedis(t)
  await oneBan(t, 'redis', redis.port, 2)
})

// every banned request strikes too, from every process at once: the restarts are the same ban
t.test('with extend, 4 processes on one SQLite file still start one ban, onBan once', async (t) => {
  await oneBan(t, 'sqlite', join(tempDir(t), 'extended.db'), 4, true)
})

t.test('with extend, 2 app servers on one redis-server still start one ban, onBan once', async (t) => {
  if (!redisAvailable(t)) return
  const redis = await startRedis(t)
  await oneBan(t, 'redis', redis.port, 2, true)
})
