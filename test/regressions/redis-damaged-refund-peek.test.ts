// Regression: a damaged stored value (one this package did not write) made refund() and peek()
// fail on Redis (the Lua drivers compared a nil expiry) and on SQLite (decodeState threw), while
// consume() already read it as an empty bucket. Now all three read it as empty; refund deletes it.
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { algorithms } from '../../algorithms/index.js'
import { RedisStore } from '../../stores/redis.js'
import { SqliteStore } from '../../stores/sqlite.js'
import type { StoreBucket } from '../../stores/store.js'
import { connect, redisAvailable, startRedis } from '../support/redis.js'

const bucket = (key: string): StoreBucket =>
  ({ key, algorithm: algorithms['sliding-window'], params: { limit: 5, windowMs: 60_000, burst: 5 } })
const NOW = 1_700_000_000_000

t.test('SQLite: refund and peek read a damaged row as an empty bucket', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'fl-damaged-')), 'limits.db')
  const store = new SqliteStore({ path, clock: () => NOW })
  t.teardown(() => store.close())
  await store.consume([bucket('a'), bucket('b')], 1)
  const db = new Database(path)
  db.prepare("UPDATE fastify_limiter_v2 SET state = 'not a state' WHERE key IN ('a', 'b')").run()
  db.close()
  t.equal(store.peek([bucket('a')]).remaining, 4, 'peek: as if empty')
  store.refund([bucket('b')], 1)
  t.equal((await store.consume([bucket('b')], 1)).remaining, 4, 'refund left an empty bucket')
})

if (redisAvailable(t)) {
  const server = await startRedis(t)
  t.test('Redis: refund and peek read a damaged value as an empty bucket', async (t) => {
    const client = connect(t, server.port)
    const store = new RedisStore({ client, keyPrefix: 'dmg:', clock: () => NOW })
    await client.set('dmg:{x}:a', 'garbage')
    await client.set('dmg:{x}:b', '1,2,,3')
    t.equal((await store.peek([bucket('{x}:a')])).remaining, 4, 'peek: as if empty')
    await store.refund([bucket('{x}:b')], 1)
    t.equal(await client.exists('dmg:{x}:b'), 0, 'refund deleted the damaged value')
    t.equal((await store.consume([bucket('{x}:b')], 1)).remaining, 4)
  })
}
