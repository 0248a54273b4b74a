// The plugin's `sqlite` shorthand has group commit on by default: concurrent requests of one turn
// are decided in one transaction, exactly as one by one; `batch: false` gives the synchronous store.
import t from 'tap'
import { join } from 'node:path'
import { build } from '../../support/helpers.js'
import { tempDir } from '../../support/sqlite.js'
import { SqliteStore, algorithms } from '../../../index.js'
import type { StoreBucket } from '../../../index.js'

const probe: StoreBucket[] = [{ key: 'k', algorithm: algorithms['fixed-window'], params: { limit: 1, windowMs: 1_000, burst: 1 } }]

for (const sqlite of ['path', 'object'] as const) {
  t.test(`sqlite: ${sqlite === 'path' ? "'limits.db'" : '{ path }'} decides a turn's requests together and exactly`, async (t) => {
    const path = join(tempDir(t), 'shorthand.db')
    const { app } = await build({ sqlite: sqlite === 'path' ? path : { path } })
    t.teardown(() => app.close())
    app.get('/', { config: { rateLimit: '5/min' } }, async () => 'ok')
    const replies = await Promise.all(Array.from({ length: 12 }, () => app.inject('/')))
    t.equal(replies.filter((r) => r.statusCode === 200).length, 5)
    t.equal(replies.filter((r) => r.statusCode === 429).length, 7)
    t.same(replies.map((r) => r.headers['x-ratelimit-limit']), replies.map(() => '5'))
    const store = app.rateLimit.store as SqliteStore
    t.equal(store.stats().keys, 1)
    t.type(store.consume(probe, 1), Promise, 'batched')
  })
}

t.test('sqlite: { path, batch: false } is the synchronous store', async (t) => {
  const path = join(tempDir(t), 'shorthand.db')
  const { app } = await build({ sqlite: { path, batch: false } })
  t.teardown(() => app.close())
  app.get('/', { config: { rateLimit: '5/min' } }, async () => 'ok')
  const replies = await Promise.all(Array.from({ length: 12 }, () => app.inject('/')))
  t.equal(replies.filter((r) => r.statusCode === 200).length, 5)
  const store = app.rateLimit.store as SqliteStore<false>
  t.equal(store.consume(probe, 1).allowed, true, 'decided at once')
})
