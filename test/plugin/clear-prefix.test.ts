import t from 'tap'
import { join } from 'node:path'
import { MemoryStore } from '../../index.js'
import { clearsItsOwn, threeApps } from '../support/clear-prefix.js'
import { tempDir } from '../support/sqlite.js'

// fastify.rateLimit.clear() on the memory and SQLite stores: see clear-prefix.ts.

t.test('memory: one MemoryStore shared by three apps', async (t) => {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  await clearsItsOwn(t, await threeApps(t, () => ({ store })))
})

t.test('SQLite: three apps on one database file', async (t) => {
  const path = join(tempDir(t), 'limits.db')
  await clearsItsOwn(t, await threeApps(t, () => ({ sqlite: path })))
})
