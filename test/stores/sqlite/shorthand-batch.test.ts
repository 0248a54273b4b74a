// The plugin's `sqlite` shorthand takes `batch: true` (group commit): concurrent requests of one
// turn are decided in one transaction, exactly as one by one.
import t from 'tap'
import { join } from 'node:path'
import { build } from '../../support/helpers.js'
import { tempDir } from '../../support/sqlite.js'

t.test("sqlite: { path, batch: true } decides a turn's requests together and exactly", async (t) => {
  const path = join(tempDir(t), 'shorthand.db')
  const { app } = await build({ sqlite: { path, batch: true } })
  t.teardown(() => app.close())
  app.get('/', { config: { rateLimit: '5/min' } }, async () => 'ok')
  const replies = await Promise.all(Array.from({ length: 12 }, () => app.inject('/')))
  t.equal(replies.filter((r) => r.statusCode === 200).length, 5)
  t.equal(replies.filter((r) => r.statusCode === 429).length, 7)
  t.same(replies.map((r) => r.headers['x-ratelimit-limit']), replies.map(() => '5'))
  const store = app.rateLimit.store as unknown as { stats: () => { keys: number } }
  t.equal(store.stats().keys, 1)
})
