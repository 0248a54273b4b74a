// The habits of @fastify/rate-limit users (issue 20) on SQLite, where denials are remembered on
// the app server and answered without the store: test/support/habits.ts.
import t from 'tap'
import { join } from 'node:path'
import { habitsOnStore } from '../../support/habits.js'
import { tempDir } from '../../support/sqlite.js'

t.test('a plugin key, statusCode, deniedHeaders, onExceeding and onExceeded on SQLite, remembered denials included', async (t) => {
  await habitsOnStore(t, { sqlite: join(tempDir(t), 'habits.db') })
})
