import t from 'tap'
import { readFileSync } from 'node:fs'
import { errors } from '../../lib/core/errors.js'
import * as pkg from '../../index.js'

t.test('every error code is in the table of docs/errors.md, and every row is a real code', async (t) => {
  const section = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const documented = [...section.matchAll(/^\| `(FST_LIMITER_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort()
  const registry = Object.values(errors).map((E) => new (E as new (...args: unknown[]) => { code: string })().code).sort()
  t.same(documented, registry)
})

t.test('codes follow the registry keys and carry the FST_LIMITER_ prefix', async (t) => {
  for (const [key, E] of Object.entries(errors)) {
    const err = new (E as new (...args: unknown[]) => Error & { code: string, statusCode: number })()
    t.equal(err.code, `FST_LIMITER_${key}`)
    // a store that cannot be asked is the one error a client may see as what it is: unavailable
    t.equal(err.statusCode, key === 'STORE_UNAVAILABLE' ? 503 : 500)
    t.ok(err instanceof Error)
  }
})

t.test('the registry is exported', async (t) => {
  t.equal(pkg.errors, errors)
})
