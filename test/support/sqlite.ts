import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A new directory for real database files, removed when `t` ends. Not `t.testdir()`: its fixed
 * path under .tap/ is shared by every run of the same test file, and a second run (another
 * engineer's, in the same checkout) would delete the files under the first one.
 */
export function tempDir (t: { teardown (fn: () => void): void }, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content)
  return dir
}

/**
 * Another connection to the file at `path`, in this process, holding its write lock (`BEGIN
 * IMMEDIATE`) until `release()`; closed when `t` ends.
 */
export function holdLock (t: { teardown (fn: () => void): void }, path: string): { release (): void } {
  const db = new Database(path)
  t.teardown(() => db.close())
  db.exec('BEGIN IMMEDIATE')
  return { release: () => db.exec('ROLLBACK') }
}
