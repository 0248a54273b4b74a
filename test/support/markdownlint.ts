// markdownlint-cli2 with this project's .markdownlint-cli2.jsonc, as `npm run lint` runs it on the
// docs, on pages a test writes.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** The `file:line rule` of each error markdownlint reports on `pages` (file name -> text). */
export function markdownlint (pages: Record<string, string>): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-markdownlint-'))
  try {
    for (const [name, text] of Object.entries(pages)) writeFileSync(join(dir, name), text)
    const bin = join(root, 'node_modules', 'markdownlint-cli2', 'markdownlint-cli2-bin.mjs')
    const run = spawnSync(process.execPath, [bin, '--config', join(root, '.markdownlint-cli2.jsonc'), '--no-globs', ...Object.keys(pages)], { cwd: dir, encoding: 'utf8' })
    return [...`${run.stdout}${run.stderr}`.matchAll(/^([^\s:]+:\d+)(?::\d+)? error (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
