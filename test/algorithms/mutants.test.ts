import t from 'tap'
import fc from 'fast-check'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Algorithm } from '../../algorithms/index.js'
import {
  anyIntervalAtMostL, burstPlusRefill, decidesBy, matchesBucketReference, neverOverLimit, remainingIsExact,
  paramsArb, resetIsExact, retryIsExact, slidingWindowFits, ttlAndJsonAreSafe, wellFormed
} from '../support/algorithms.js'
import { refundIsWellFormed, refundNeverBelowEmpty, refundUndoesConsume } from '../support/refunds.js'
import { chargeSaturates, debtScenarioArb, decidesWithCharges, indebted } from '../support/debt.js'

// Mutation tests: the real source of an algorithm with one deliberate bug, run through the
// same property the real one passes. Each property must catch its mutant, or it proves nothing.

const algorithmsDir = fileURLToPath(new URL('../../algorithms/', import.meta.url))
const scratch = mkdtempSync(join(tmpdir(), 'fastify-limiter-mutants-'))
t.teardown(() => rmSync(scratch, { recursive: true, force: true }))

/** The Lua twin in an algorithm's file, which test/stores/redis/lua-mutants.test.ts mutates. */
const twin = /(\nconst lua = `[^`]*`\n)/

/**
 * Loads `algorithms/<file>` with `from` replaced by `to` in its TypeScript (where `from` must
 * occur exactly once), its Lua twin left as it is.
 */
async function mutant (file: string, from: string, to: string): Promise<Algorithm<any>> {
  const [before, lua, after] = readFileSync(join(algorithmsDir, file), 'utf8').split(twin)
  if ((before + after).split(from).length !== 2) throw new Error(`${file}: '${from}' does not occur exactly once`)
  const source = before.includes(from) ? before.replace(from, to) + lua + after : before + lua + after.replace(from, to)
  // .mts: an ES module wherever it lies; its imports point back at the real sources
  const path = join(scratch, `${Math.random().toString(36).slice(2)}-${file.replace(/ts$/, 'mts')}`)
  const imports = (text: string): string =>
    text.replace(/from '\.\/([a-z-]+)\.js'/g, (_, name) => `from '${pathToFileURL(join(algorithmsDir, name))}.ts'`)
  writeFileSync(path, imports(source.replace(from, to)))
  const module = await import(pathToFileURL(path).href)
  return Object.values(module).find((value): value is Algorithm<any> =>
    typeof value === 'object' && value !== null && 'consume' in value)!
}

const cases: Array<{ name: string, file: string, from: string, to: string, property: (a: Algorithm<any>) => fc.IProperty<any> }> = [
  {
    name: 'token bucket allowing one token short',
    file: 'token-bucket.ts',
    from: 'const allowed = n >= cost',
    to: 'const allowed = n + 1 >= cost',
    property: (a) => burstPlusRefill(a)
  },
  {
    name: 'token bucket refilling a fraction too fast',
    file: 'token-bucket.ts',
    from: 'n = state.n + Math.floor(elapsed / windowMs) * limit + Math.floor(gained / windowMs)',
    to: 'n = state.n + Math.floor(elapsed / windowMs) * limit + Math.ceil(gained / windowMs)',
    property: (a) => matchesBucketReference(a)
  },
  {
    name: 'leaky bucket retrying 1 ms early',
    file: 'leaky-bucket.ts',
    from: 'limit, windowMs) - now',
    to: 'limit, windowMs) - now - 1',
    property: (a) => retryIsExact(a)
  },
  {
    name: 'GCRA with < for <=',
    file: 'gcra.ts',
    from: 'next.f <= bound.f',
    to: 'next.f < bound.f',
    property: (a) => matchesBucketReference(a)
  },
  {
    name: 'sliding log forgetting entries 1 ms early',
    file: 'sliding-log.ts',
    from: 'at > now - windowMs',
    to: 'at > now - windowMs + 1',
    property: (a) => neverOverLimit(a, anyIntervalAtMostL)
  },
  {
    name: 'sliding log reporting one more remaining',
    file: 'sliding-log.ts',
    from: 'remaining: allowed ? limit - used - cost',
    to: 'remaining: allowed ? limit + 1 - used - cost',
    property: (a) => remainingIsExact(a)
  },
  {
    name: 'fixed window that ends 1 ms late',
    file: 'fixed-window.ts',
    from: 'const end = (w + 1) * windowMs',
    to: 'const end = (w + 1) * windowMs + 1',
    property: (a) => resetIsExact(a)
  },
  {
    name: 'sliding window with < for <=',
    file: 'sliding-window.ts',
    from: 'used + cost * windowMs <= capacity',
    to: 'used + cost * windowMs < capacity',
    property: (a) => decidesBy(a, slidingWindowFits)
  },
  // the refunds
  {
    name: 'fixed window refund that keeps one unit',
    file: 'fixed-window.ts',
    from: 'const c = Math.max(0, state.c - cost)',
    to: 'const c = Math.max(0, state.c - cost + 1)',
    property: (a) => refundUndoesConsume(a)
  },
  {
    name: 'sliding window refund taking from the previous window first',
    file: 'sliding-window.ts',
    from: 'const fromCurrent = Math.min(c, cost)',
    to: 'const fromCurrent = Math.max(0, cost - p)',
    property: (a) => refundUndoesConsume(a)
  },
  {
    name: 'sliding window refund that charges when it takes more than the window holds',
    file: 'sliding-window.ts',
    from: 'const prev = Math.max(0, p - (cost - fromCurrent))',
    to: 'const prev = p - (cost - fromCurrent)',
    property: (a) => refundNeverBelowEmpty(a)
  },
  {
    name: 'sliding log refund taking from the oldest entry',
    file: 'sliding-log.ts',
    from: 'const newest = costs.length - 1',
    to: 'const newest = 0',
    property: (a) => refundUndoesConsume(a)
  },
  {
    name: 'token bucket refund that fills past the burst',
    file: 'token-bucket.ts',
    from: 'if (back >= params.burst) return { state: undefined, ttlMs: 0 }',
    to: '',
    property: (a) => refundIsWellFormed(a)
  },
  {
    name: 'leaky bucket refund going below empty',
    file: 'leaky-bucket.ts',
    from: 'if (l < 0 || (l === 0 && f === 0))',
    to: 'if (l === 0 && f === 0)',
    property: (a) => refundIsWellFormed(a)
  },
  {
    name: 'GCRA refund dropping the fraction',
    file: 'gcra.ts',
    from: 'const f = part - Math.floor(part / limit) * limit',
    to: 'const f = 0',
    property: (a) => refundUndoesConsume(a)
  },
  {
    name: 'GCRA refund kept 1 ms short',
    file: 'gcra.ts',
    from: 'ttlMs: t + (f > 0 ? 1 : 0) - now',
    to: 'ttlMs: t - now',
    property: (a) => refundIsWellFormed(a)
  },
  // the charges (debt), and consume on states in debt
  {
    name: 'fixed window charge past the bound',
    file: 'fixed-window.ts',
    from: 'c: Math.min(count + cost, maxHeld(params))',
    to: 'c: count + cost',
    property: (a) => chargeSaturates(a, debtScenarioArb(paramsArb(a), { huge: true }))
  },
  {
    name: 'fixed window reporting a debt as remaining below 0',
    file: 'fixed-window.ts',
    from: 'remaining: Math.max(0, limit - count)',
    to: 'remaining: limit - count',
    property: (a) => wellFormed(a, indebted(a))
  },
  {
    name: 'sliding window charge forgetting the previous window',
    file: 'sliding-window.ts',
    from: 'c: Math.min(c + cost, maxHeld(params)), p }',
    to: 'c: Math.min(c + cost, maxHeld(params)), p: 0 }',
    property: (a) => decidesWithCharges(a, slidingWindowFits)
  },
  {
    name: 'sliding log reporting a debt as remaining below 0',
    file: 'sliding-log.ts',
    from: 'Math.max(0, limit - used)',
    to: 'limit - used',
    property: (a) => wellFormed(a, indebted(a))
  },
  {
    name: 'token bucket charge dropping the fraction',
    file: 'token-bucket.ts',
    from: ': { n: n - cost, f, t }',
    to: ': { n: n - cost, f: 0, t }',
    property: (a) => matchesBucketReference(a, indebted(a))
  },
  {
    name: 'token bucket reporting a debt as remaining below 0',
    file: 'token-bucket.ts',
    from: 'remaining: Math.max(0, n)',
    to: 'remaining: n',
    property: (a) => wellFormed(a, indebted(a))
  },
  {
    name: 'leaky bucket charge kept one unit short',
    file: 'leaky-bucket.ts',
    from: 'msToLeak(charged.l, charged.f',
    to: 'msToLeak(charged.l - 1, charged.f',
    property: (a) => ttlAndJsonAreSafe(a, indebted(a))
  },
  {
    name: 'GCRA charge from a theoretical arrival time in the past',
    file: 'gcra.ts',
    from: 'const tat = state !== undefined && state.t >= now ? state',
    to: 'const tat = state !== undefined ? state',
    // (a store forgets such a state: only a state kept past its ttl shows it)
    property: (a) => ttlAndJsonAreSafe(a, indebted(a))
  },
  {
    name: 'GCRA charge past the bound',
    file: 'gcra.ts',
    from: 'const charged = !ahead(next, bound) ? next',
    to: 'const charged = true ? next',
    property: (a) => chargeSaturates(a, debtScenarioArb(paramsArb(a), { huge: true }))
  }
]

for (const { name, file, from, to, property } of cases) {
  t.test(`the properties catch a ${name}`, async (t) => {
    const broken = await mutant(file, from, to)
    t.ok(fc.check(property(broken)).failed, 'the property fails on the mutant')
  })
}

t.test('a mutant that changes nothing passes, so the failures above are the bugs', async (t) => {
  const same = await mutant('gcra.ts', 'next.f <= bound.f', 'next.f <= bound.f')
  t.notOk(fc.check(matchesBucketReference(same)).failed)
})
