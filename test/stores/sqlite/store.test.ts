import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import Fastify from 'fastify'
import limiter, { MemoryStore, SqliteStore, algorithms } from '../../../index.js'
import type { StoreBucket } from '../../../index.js'
import { storeConformance } from '../../../stores/conformance.js'
import { loadDriver } from '../../../stores/sqlite.js'
import { Clock, build, hit, thrown } from '../../support/helpers.js'
import { tempDir } from '../../support/sqlite.js'

// Real database files in a temporary directory, removed after the run.
const dir = tempDir(t, { 'not-a-db.db': 'hello, I am a text file and not a SQLite database\n'.repeat(50), 'a-file': 'x' })
let files = 0
const newPath = () => join(dir, `store-${files++}.db`)

const execFileAsync = promisify(execFile)

/** The error registering the plugin with `options` fails with (undefined when it does not). */
async function registerError (options: Record<string, unknown>): Promise<(Error & { code?: string }) | undefined> {
  const app = Fastify()
  try {
    await app.register(limiter, options as never).ready()
  } catch (err) {
    return err as Error & { code?: string }
  } finally {
    await app.close()
  }
}
const ok = async () => ({ ok: true })
const perMinute = (key: string, limit: number): StoreBucket[] =>
  [{ key, algorithm: algorithms['sliding-window'], params: { limit, windowMs: 60_000, burst: limit } }]

// the default store, with group commit, runs the suite in batching.test.ts
await storeConformance(t, {
  name: 'SqliteStore without batching',
  makeStore: (clock) => new SqliteStore({ path: newPath(), clock, batch: false })
})

t.test('bad options are coded errors naming the option', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /^SqliteStore options: expected an object with a path, received undefined$/],
    [{}, /^SqliteStore path: expected a database file path like 'limits.db', received undefined$/],
    [{ path: '' }, /^SqliteStore path: .* received ''$/],
    [{ path: 'x.db', cleanupIntervalMs: 0 }, /^SqliteStore cleanupIntervalMs: expected an integer >= 1, received 0$/],
    [{ path: 'x.db', busyTimeoutMs: 1.5 }, /^SqliteStore busyTimeoutMs: expected an integer from 0 to 2147483647/],
    [{ path: 'x.db', clock: 5 }, /^SqliteStore clock: expected a function, received 5$/]
  ]
  for (const [options, message] of cases) {
    const err = thrown(() => new SqliteStore(options as never))
    t.equal(err?.code, 'FST_LIMITER_INVALID_OPTION')
    t.match(err?.message, message)
  }
})

t.test('without better-sqlite3 installed the error says to install it', async (t) => {
  const err = thrown(() => loadDriver('better-sqlite3-not-installed'))
  t.equal(err?.code, 'FST_LIMITER_SQLITE_MISSING')
  t.match(err?.message, /npm install better-sqlite3/)
  t.equal(loadDriver(), Database)
})

t.test('a path that cannot hold a database is FST_LIMITER_SQLITE_OPEN', async (t) => {
  // Tests run as root, which ignores permission bits; a path whose parent is a regular file
  // cannot be created by anyone, so it stands for a read-only location.
  for (const path of [join(dir, 'missing-dir', 'limits.db'), join(dir, 'a-file', 'limits.db')]) {
    const err = thrown(() => new SqliteStore({ path }))
    t.equal(err?.code, 'FST_LIMITER_SQLITE_OPEN', path)
    t.match(err?.message, `cannot open '${path}'`)
  }
})

t.test('a file that is not a database is refused and left as it was', async (t) => {
  const path = join(dir, 'not-a-db.db')
  const before = readFileSync(path)
  const err = thrown(() => new SqliteStore({ path }))
  t.equal(err?.code, 'FST_LIMITER_SQLITE_OPEN')
  t.match(err?.message, /file is not a database/)
  t.same(readFileSync(path), before)
})

t.test('the database runs in WAL mode with a versioned table', async (t) => {
  const path = newPath()
  const store = new SqliteStore({ path })
  t.equal(store.stats().journalMode, 'wal')
  store.close()
  const db = new Database(path, { readonly: true })
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()
  t.same(tables, ['fastify_limiter_v2'])
  db.close()
})

t.test("':memory:' gives a private database for one process", async (t) => {
  const store = new SqliteStore({ path: ':memory:' })
  t.equal(store.stats().journalMode, 'memory')
  t.equal((await store.consume(perMinute('k', 1), 1)).allowed, true)
  t.equal((await store.consume(perMinute('k', 1), 1)).allowed, false)
  store.close()
})

t.test('two stores on one file share limits, and limits survive reopening', async (t) => {
  const path = newPath()
  const clock = new Clock()
  const a = new SqliteStore({ path, clock: clock.read })
  const b = new SqliteStore({ path, clock: clock.read })
  const allowed: boolean[] = []
  for (const s of [a, b, a, b]) allowed.push((await s.consume(perMinute('shared', 3), 1)).allowed)
  t.same(allowed, [true, true, true, false])
  a.close()
  b.close()
  const reopened = new SqliteStore({ path, clock: clock.read })
  const d = await reopened.consume(perMinute('shared', 3), 1)
  t.equal(d.allowed, false)
  t.ok(d.retryAfterMs > 0)
  reopened.close()
})

t.test('stats: expired rows stop counting as keys at once and leave the file at the sweep', async (t) => {
  const clock = new Clock()
  const store = new SqliteStore({ path: newPath(), clock: clock.read })
  await Promise.all([store.consume(perMinute('a', 5), 1), store.consume(perMinute('b', 5), 1)])
  const stats = store.stats()
  t.match(stats, { keys: 2, rows: 2, journalMode: 'wal', cleanupErrors: 0 })
  t.ok(stats.fileBytes > 0)
  clock.advance(3_600_000)
  t.match(store.stats(), { keys: 0, rows: 2 })
  t.equal(store.sweep(), 2)
  t.match(store.stats(), { keys: 0, rows: 0 })
  store.close()
})

t.test('after close every call is a coded error, and close can be repeated', async (t) => {
  const store = new SqliteStore({ path: newPath(), batch: false })
  store.close()
  store.close()
  const calls: Array<[string, () => unknown]> = [
    ['consume', () => store.consume(perMinute('k', 1), 1)],
    ['reset', () => store.reset('k')],
    ['clear', () => store.clear()],
    ['sweep', () => store.sweep()],
    ['stats', () => store.stats()],
    ['acquire', () => store.acquire('k', 1, 1_000)]
  ]
  for (const [name, call] of calls) {
    const err = thrown(call)
    t.equal(err?.code, 'FST_LIMITER_SQLITE_FAILED', name)
    t.match(err?.message, `${name} failed: The database connection is not open`)
  }
  const batched = new SqliteStore({ path: newPath() })
  batched.close()
  await t.rejects(batched.consume(perMinute('k', 1), 1), { code: 'FST_LIMITER_SQLITE_FAILED', message: /consume failed: The database connection is not open/ },
    'with group commit, a consume after close is rejected with the coded error')
})

t.test('a state another program corrupted is an empty bucket, reported once, never a failure', async (t) => {
  const path = newPath()
  const clock = new Clock()
  const store = new SqliteStore({ path, clock: clock.read })
  const reported: string[] = []
  store.ready({ damaged: (key) => reported.push(key) })
  const good = perMinute('good', 5)[0]
  const bad = perMinute('bad', 5)[0]
  await store.consume([good, bad], 1)
  const db = new Database(path)
  db.prepare("UPDATE fastify_limiter_v2 SET state = '{not json' WHERE key = 'bad'").run()
  db.close()
  const d = await store.consume([good, bad], 1)
  t.equal(d.allowed, true, 'decided, not failed')
  t.equal(d.index, 0, 'good, charged twice, is the tighter window')
  t.equal((await store.consume([bad], 1)).remaining, 3, 'bad restarted empty: charged by the second request, then this one')
  t.equal((await store.consume([good], 1)).remaining, 2, 'good was charged by every request')
  t.same(reported, ['bad'], 'reported once, by key')
  t.equal(store.stats().damaged, 1)
  store.close()
})

t.test('plugin: sqlite shorthand creates, owns and closes the store', async (t) => {
  const path = newPath()
  const { app } = await build({ sqlite: path })
  app.get('/r', { config: { rateLimit: '2/min' } }, ok)
  t.ok(app.rateLimit.store instanceof SqliteStore)
  t.same(await hit(app, '/r', 3), [200, 200, 429])
  const store = app.rateLimit.store as SqliteStore
  await app.close()
  t.equal(thrown(() => store.stats())?.code, 'FST_LIMITER_SQLITE_FAILED', 'the plugin closed the store it created')

  const again = await build({ sqlite: { path, busyTimeoutMs: 100, cleanupIntervalMs: 1_000 } })
  again.app.get('/r', { config: { rateLimit: '2/min' } }, ok)
  t.same(await hit(again.app, '/r', 1), [429], 'limits survive a restart of the app')
  t.equal((again.app.rateLimit.store as SqliteStore).busyTimeoutMs, 100)
  await again.app.close()
})

t.test('plugin: the store uses the plugin clock for sweeps and stats', async (t) => {
  const { app, clock } = await build({ sqlite: newPath() })
  app.get('/r', { config: { rateLimit: '2/min' } }, ok)
  await hit(app, '/r', 1)
  t.equal(((await app.rateLimit.stats()).store as { keys: number }).keys, 1)
  clock.advance(3_600_000)
  t.equal(((await app.rateLimit.stats()).store as { keys: number }).keys, 0)
  await app.close()
})

t.test('plugin: bad sqlite options are coded errors at register', async (t) => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ sqlite: newPath(), store: new MemoryStore() }, 'FST_LIMITER_INVALID_OPTION', /^fastify-limiter option sqlite: expected no store option beside it .* received both store and sqlite$/],
    [{ sqlite: '' }, 'FST_LIMITER_INVALID_OPTION', /^fastify-limiter option sqlite: expected a database file path like 'limits.db', or \{ path, cleanupIntervalMs, busyTimeoutMs, batch \}, received ''$/],
    [{ sqlite: { path: newPath(), busyTimeoutMs: -1 } }, 'FST_LIMITER_INVALID_OPTION', /^fastify-limiter option sqlite\.busyTimeoutMs: expected an integer from 0 to 2147483647, received -1$/],
    [{ sqlite: { path: newPath(), timeout: 5 } }, 'FST_LIMITER_INVALID_OPTION', /^fastify-limiter option sqlite\.timeout: expected a known option/],
    [{ sqlite: join(dir, 'a-file', 'limits.db') }, 'FST_LIMITER_SQLITE_OPEN', /cannot open .*a-file\/limits\.db/]
  ]
  for (const [options, code, message] of cases) {
    const err = await registerError(options)
    t.equal(err?.code, code, JSON.stringify(options))
    t.match(err?.message, message)
  }
})

t.test('the package imports without better-sqlite3; only making a SqliteStore needs it', async (t) => {
  // The hook makes every ESM import of better-sqlite3 fail, as if it were not installed.
  const hide = new URL('../../support/fixtures/hide-better-sqlite3.mjs', import.meta.url).href
  // (an -e script resolves imports from the working directory: the entry by its full URL)
  const entry = new URL('../../../index.ts', import.meta.url).href
  const script = `const m = await import('${entry}'); console.log(typeof m.SqliteStore, typeof m.default)`
  // the child runs with this process's TypeScript loader (tap's, or tsx)
  const { stdout } = await execFileAsync(process.execPath, [...process.execArgv, '--import', hide, '--input-type=module', '-e', script])
  t.equal(stdout.trim(), 'function function')
  const blocked = execFileAsync(process.execPath, ['--import', hide, '--input-type=module', '-e', "await import('better-sqlite3')"])
  await t.rejects(blocked, /better-sqlite3 is hidden/, 'the hook does hide it')
})
