import t from 'tap'
import fc from 'fast-check'
import type { Redis } from '../../support/redis.js'
import { algorithmNames, algorithms } from '../../../algorithms/index.js'
import type { AlgorithmName } from '../../../algorithms/index.js'
import { assemble, assembleCharge, assembleRefund, strikeArgs, strikeScript } from '../../../stores/redis-scripts.js'
import { RedisStore } from '../../../stores/redis.js'
import type { RedisScript } from '../../../stores/redis-scripts.js'
import { paramsArb } from '../../support/algorithms.js'
import { agreement, refundAgreement, refundScenarioArb, scenarioArb } from '../../support/agreement.js'
import type { Decide, Refund } from '../../support/agreement.js'
import { banAgreement, banScenarioArb } from '../../support/ban-agreement.js'
import type { BanSide } from '../../support/ban-agreement.js'
import { connect, redisAvailable, startRedis } from '../../support/redis.js'

// Mutation tests of the Lua twins, as test/algorithms/mutants.test.ts does for the TypeScript:
// a twin with one deliberate bug, assembled into a script the way the Redis store assembles the
// real ones, run through the agreement check of agreement.test.ts on a real redis-server. The
// check must fail on every mutant, or it proves nothing about the twins it passes.

interface Mutant {
  name: string
  algorithm: AlgorithmName
  from: string
  to: string
}

const mutants: Mutant[] = [
  { name: 'fixed window with < for <=', algorithm: 'fixed-window', from: 'if count + cost <= limit then', to: 'if count + cost < limit then' },
  { name: 'fixed window that ends 1 ms late', algorithm: 'fixed-window', from: 'local e = (w + 1) * windowMs', to: 'local e = (w + 1) * windowMs + 1' },
  { name: 'fixed window forgetting a clock behind the stored window', algorithm: 'fixed-window', from: 'if s and s[1] > w then w = s[1] end', to: '' },
  { name: 'sliding window with < for <=', algorithm: 'sliding-window', from: 'if used + cost * windowMs <= capacity then', to: 'if used + cost * windowMs < capacity then' },
  { name: 'sliding window retrying 1 ms late', algorithm: 'sliding-window', from: 'fitsAt - elapsed + at - now', to: 'fitsAt - elapsed + at - now + 1' },
  { name: 'sliding window with <= for < in firstFit', algorithm: 'sliding-window', from: 'if room < 0 then', to: 'if room <= 0 then' },
  { name: 'sliding log keeping entries 1 ms too long', algorithm: 'sliding-log', from: 'if at > now - windowMs then', to: 'if at >= now - windowMs then' },
  {
    name: 'sliding log retrying before enough has left it',
    algorithm: 'sliding-log',
    from: 'firstToLeave(costs, used + cost - limit)',
    to: 'firstToLeave(costs, used + cost - limit - 1)'
  },
  { name: 'token bucket with > for >=', algorithm: 'token-bucket', from: 'local allowed = n >= cost', to: 'local allowed = n > cost' },
  {
    name: 'token bucket with a dropped fmod',
    algorithm: 'token-bucket',
    from: 'local gained = s[2] + fmod(elapsed, windowMs) * limit',
    to: 'local gained = s[2] + elapsed * limit'
  },
  {
    name: 'leaky bucket retrying 1 ms early',
    algorithm: 'leaky-bucket',
    from: 'at + lbLeak(l + cost - burst, f, limit, windowMs) - now',
    to: 'at + lbLeak(l + cost - burst, f, limit, windowMs) - now - 1'
  },
  { name: 'leaky bucket not rounding its level up', algorithm: 'leaky-bucket', from: 'if f > 0 then up = 1 end', to: '' },
  { name: 'GCRA with < for <=', algorithm: 'gcra', from: 'nf <= bf', to: 'nf < bf' },
  { name: 'GCRA with a dropped fmod', algorithm: 'gcra', from: 'fmod(part, limit)', to: 'part' },
  { name: 'GCRA retrying 1 ms early', algorithm: 'gcra', from: 'if nf > bf then retry = retry + 1 end', to: '' }
]

/** The real twin of `name` with `from` replaced by `to` (which must occur exactly once). */
function mutate ({ algorithm, from, to }: Mutant): RedisScript {
  const { lua } = algorithms[algorithm]
  if (lua.split(from).length !== 2) throw new Error(`${algorithm}: '${from}' does not occur exactly once in its Lua twin`)
  return assemble([{ lua: lua.replace(from, to) }])
}

/**
 * Decides through `script` as the RedisStore does (its KEYS, ARGV and reply), by EVAL, on keys
 * under `prefix`.
 */
function decideBy (client: Redis, script: RedisScript, prefix: string): Decide {
  return async (buckets, cost, now) => {
    const keys = buckets.map(({ key }) => prefix + key)
    const rates = buckets.flatMap(({ algorithm, params }) => [algorithm.code, params.limit, params.windowMs, params.burst])
    // one request in the consume script's batch layout: cost, now, its number of keys, then per
    // key its rate's number; then the rates (here one per key) and their number
    const r = await client.call('eval', script.lua, keys.length, ...keys, cost, now, keys.length, ...keys.map((_, i) => i + 1), ...rates, keys.length) as number[]
    // the reply: the server's time, then `index * 2 + allowed, remaining, resetMs, retryAfterMs`
    const index = r[1] >> 1
    return { allowed: (r[1] & 1) === 1, limit: buckets[index].params.limit, remaining: r[2], resetMs: r[3], retryAfterMs: r[4], index, now }
  }
}

/** Broken refund twins: each must fail the refund agreement check. */
const refundMutants: Mutant[] = [
  { name: 'fixed window refund keeping one unit', algorithm: 'fixed-window', from: 'local c = max(0, s[2] - cost)', to: 'local c = max(0, s[2] - cost + 1)' },
  // (not 'a refund in a window that has ended': its units count no more either way, so no
  // decision can tell; the TypeScript property says the same)
  { name: 'sliding window refund from the previous window first', algorithm: 'sliding-window', from: 'local fromCurrent = math.min(curr, cost)', to: 'local fromCurrent = max(0, cost - prev)' },
  { name: 'sliding log refund one unit short', algorithm: 'sliding-log', from: 'local owed = cost', to: 'local owed = cost - 1' },
  { name: 'sliding log refund leaving a unit in each entry it takes from', algorithm: 'sliding-log', from: 'costs[newest] = costs[newest] - taken', to: 'costs[newest] = costs[newest] - taken + 1' },
  { name: 'token bucket refund dropping the fraction', algorithm: 'token-bucket', from: 'return { n, f, at }', to: 'return { n, 0, at }' },
  { name: 'token bucket refund one token short', algorithm: 'token-bucket', from: 'n = n + cost', to: 'n = n + cost - 1' },
  { name: 'leaky bucket refund dropping the fraction', algorithm: 'leaky-bucket', from: 'return { l, f, at }', to: 'return { l, 0, at }' },
  { name: 'GCRA refund dropping the fraction', algorithm: 'gcra', from: 'local f = part - floor(part / limit) * limit', to: 'local f = 0' },
  { name: 'GCRA refund of one interval too few', algorithm: 'gcra', from: 'floor(cost / limit) * windowMs', to: 'floor((cost - 1) / limit) * windowMs' }
]

/** The `twin` chunk of the mutant's algorithm with `from` replaced by `to` (which must occur exactly once). */
function mutated ({ algorithm, from, to }: Mutant, twin: 'refundLua' | 'chargeLua'): string {
  const source = algorithms[algorithm][twin]
  if (source.split(from).length !== 2) throw new Error(`${algorithm}: '${from}' does not occur exactly once in its ${twin}`)
  return source.replace(from, to)
}

/** The real twins of the mutant's algorithm, its refund twin mutated. */
const mutateRefund = (mutant: Mutant): RedisScript =>
  assembleRefund([{ lua: algorithms[mutant.algorithm].lua, refundLua: mutated(mutant, 'refundLua') }])

/** Broken charge twins: each must fail the agreement check of the charges. */
const chargeMutants: Mutant[] = [
  { name: 'fixed window charge past the bound', algorithm: 'fixed-window', from: 'math.min(count + cost, maxHeld(p))', to: 'count + cost' },
  { name: 'sliding window charge forgetting the previous window', algorithm: 'sliding-window', from: 'maxHeld(p)), prev }', to: 'maxHeld(p)), 0 }' },
  { name: 'sliding log charge 1 ms late', algorithm: 'sliding-log', from: 'times[last], costs[last] = now, 0', to: 'times[last], costs[last] = now + 1, 0' },
  { name: 'sliding log charge past the bound', algorithm: 'sliding-log', from: 'math.min(cost, maxHeld(p) - used)', to: 'math.min(cost, maxHeld(p))' },
  { name: 'token bucket charge dropping the fraction', algorithm: 'token-bucket', from: '    n = n - cost', to: '    n, f = n - cost, 0' },
  { name: 'token bucket charge saturating one token early', algorithm: 'token-bucket', from: 'local least = burst - maxHeld(p)', to: 'local least = burst - maxHeld(p) + 1' },
  { name: 'leaky bucket charge one unit short', algorithm: 'leaky-bucket', from: 'l = l + cost', to: 'l = l + cost - 1' },
  { name: 'GCRA charge from now instead of the TAT', algorithm: 'gcra', from: 'local nt, nf = later(t, f, cost, p)', to: 'local nt, nf = later(now, 0, cost, p)' },
  // (not 'past the bound': its PXAT past 2^53 makes Redis refuse the script, rather than decide otherwise)
  { name: 'GCRA charge saturating one unit early', algorithm: 'gcra', from: 'later(now, 0, maxHeld(p), p)', to: 'later(now, 0, maxHeld(p) - 1, p)' }
]

/** The real twins of the mutant's algorithm, its charge twin mutated. */
const mutateCharge = (mutant: Mutant): RedisScript =>
  assembleCharge([{ lua: algorithms[mutant.algorithm].lua, chargeLua: mutated(mutant, 'chargeLua') }])

/** Refunds (or charges) through `script` as the RedisStore does, by EVAL, on keys under `prefix`. */
function refundBy (client: Redis, script: RedisScript, prefix: string): Refund {
  return async (buckets, cost, now) => {
    const keys = buckets.map(({ key }) => prefix + key)
    const args = buckets.flatMap(({ algorithm, params }) => [algorithm.code, params.limit, params.windowMs, params.burst])
    await client.call('eval', script.lua, keys.length, ...keys, cost, now, ...args)
  }
}

/** Broken strike twins (algorithms/ban.ts `banStrikeLua`): each must fail the ban agreement check. */
const strikeMutants: Array<Omit<Mutant, 'algorithm'>> = [
  { name: 'strike that ignores extend during a ban', from: 'if extend == 1 then', to: 'if extend == 2 then' },
  { name: 'restart that advances the level', from: 'return { u, s[2], 0, s[4], f, f }', to: 'return { u, s[2] + 1, 0, s[4], f, f }' },
  { name: 'restart as long as a first ban', from: 'banDuration(s[2] - 1, ', to: 'banDuration(0, ' },
  { name: 'restart reported as a new ban', from: 'f, f }, f - now, u, 0', to: 'f, f }, f - now, u, 1' },
  { name: 'restart 1 ms short', from: 'local u = max(s[1], now + d)', to: 'local u = max(s[1], now + d - 1)' },
  { name: 'restart whose level is forgotten when it ends', from: 'local f = max(s[5], u + d)', to: 'local f = max(s[5], u)' },
  { name: 'count kept for the window that struck, not the longest', from: 'since + max(windowMs, longestMs)', to: 'since + windowMs' }
]

/** Strikes by the strike script with `from` replaced by `to` (exactly once), as the RedisStore sends it, by EVAL. */
function strikeBy (client: Redis, { from, to }: Omit<Mutant, 'algorithm'>, prefix: string): BanSide['strike'] {
  if (strikeScript.lua.split(from).length !== 2) throw new Error(`'${from}' does not occur exactly once in the strike script`)
  const lua = strikeScript.lua.replace(from, to)
  return async (key, rule, now) => {
    const r = await client.call('eval', lua, 1, prefix + key, ...strikeArgs(rule, now)) as [number, number]
    return { until: r[0], started: r[1] === 1 }
  }
}

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const client = connect(t, server.port)

  for (const [i, mutant] of strikeMutants.entries()) {
    t.test(`the ban agreement check catches a ${mutant.name}`, async (t) => {
      // the gate by the real scripts, the strike by the broken one, on the same keys
      const prefix = `strike-mutant-${i}:`
      const store = new RedisStore({ client, keyPrefix: prefix })
      const agree = banAgreement({ strike: strikeBy(client, mutant, prefix), peek: async (buckets, cost, now) => await store.peek(buckets, cost, now) })
      // found within 8 to 90 runs on average (60 seeds each), at worst 345 (the count kept for
      // the window that struck: 28 on average over 30 seeds, at worst 107): a failing check
      // stops there, and 3000 leaves no chance of a miss worth a flaky test
      const result = await fc.check(fc.asyncProperty(banScenarioArb, agree), { numRuns: 3000, endOnFailure: true })
      t.ok(result.failed, 'the check fails on the mutant')
      t.match(String(result.errorInstance), /^Error: (strike|gate) \d+ at \d+: Redis /, 'by a different decision, not by a script that does not run')
    })
  }

  t.test('the strike script unmutated, sent the same way, passes the same check', async (t) => {
    const store = new RedisStore({ client, keyPrefix: 'strike-same:' })
    const agree = banAgreement({ strike: strikeBy(client, { name: 'none', from: 'if extend == 1 then', to: 'if extend == 1 then' }, 'strike-same:'), peek: async (buckets, cost, now) => await store.peek(buckets, cost, now) })
    await fc.assert(fc.asyncProperty(banScenarioArb, agree), { numRuns: 60 })
    t.pass('agreed')
  })

  for (const [i, mutant] of mutants.entries()) {
    t.test(`the agreement check catches a ${mutant.name}`, async (t) => {
      const agree = agreement(decideBy(client, mutate(mutant), `mutant-${i}:`))
      // no shrinking: only whether it fails matters here
      const result = await fc.check(fc.asyncProperty(scenarioArb([mutant.algorithm], paramsArb), agree), { numRuns: 300, endOnFailure: true })
      t.ok(result.failed, 'the check fails on the mutant')
      t.match(String(result.errorInstance), /^Error: request \d+: Redis \{/, 'by a different decision, not by a script that does not run')
    })
  }

  for (const [i, mutant] of refundMutants.entries()) {
    t.test(`the refund agreement check catches a ${mutant.name}`, async (t) => {
      // consume and peek by the real scripts, refund by the broken one, on the same keys
      const prefix = `refund-mutant-${i}:`
      const store = new RedisStore({ client, keyPrefix: prefix })
      const agree = refundAgreement(
        (buckets, cost, now) => store.consume(buckets, cost, now),
        { refund: refundBy(client, mutateRefund(mutant), prefix), peek: (buckets, cost, now) => store.peek(buckets, cost, now) }
      )
      const result = await fc.check(fc.asyncProperty(refundScenarioArb([mutant.algorithm], paramsArb), agree), { numRuns: 300, endOnFailure: true })
      t.ok(result.failed, 'the check fails on the mutant')
      t.match(String(result.errorInstance), /^Error: request \d+.*: Redis (peeks )?\{/, 'by a different decision, not by a script that does not run')
    })
  }

  t.test('every refund twin unmutated, assembled the same way, passes the same check', async (t) => {
    for (const name of algorithmNames) {
      const prefix = `refund-same-${name}:`
      const store = new RedisStore({ client, keyPrefix: prefix })
      const agree = refundAgreement(
        (buckets, cost, now) => store.consume(buckets, cost, now),
        { refund: refundBy(client, assembleRefund([algorithms[name]]), prefix), peek: (buckets, cost, now) => store.peek(buckets, cost, now) }
      )
      await fc.assert(fc.asyncProperty(refundScenarioArb([name], paramsArb), agree), { numRuns: 60 })
      t.pass(name)
    }
  })

  /** The agreement check of the charges, with the charge by `script` and the rest by the real scripts. */
  const chargesBy = (script: RedisScript, prefix: string) => {
    const store = new RedisStore({ client, keyPrefix: prefix })
    return refundAgreement((buckets, cost, now) => store.consume(buckets, cost, now), {
      refund: (buckets, cost, now) => store.refund(buckets, cost, now),
      peek: (buckets, cost, now) => store.peek(buckets, cost, now),
      charge: refundBy(client, script, prefix)
    })
  }

  for (const [i, mutant] of chargeMutants.entries()) {
    t.test(`the charge agreement check catches a ${mutant.name}`, async (t) => {
      const agree = chargesBy(mutateCharge(mutant), `charge-mutant-${i}:`)
      const result = await fc.check(fc.asyncProperty(refundScenarioArb([mutant.algorithm], paramsArb), agree), { numRuns: 300, endOnFailure: true })
      t.ok(result.failed, 'the check fails on the mutant')
      t.match(String(result.errorInstance), /^Error: request \d+.*: Redis (peeks )?\{/, 'by a different decision, not by a script that does not run')
    })
  }

  t.test('every charge twin unmutated, assembled the same way, passes the same check', async (t) => {
    for (const name of algorithmNames) {
      const agree = chargesBy(assembleCharge([algorithms[name]]), `charge-same-${name}:`)
      await fc.assert(fc.asyncProperty(refundScenarioArb([name], paramsArb), agree), { numRuns: 60 })
      t.pass(name)
    }
  })

  t.test('every twin unmutated, assembled the same way, passes the same check', async (t) => {
    for (const name of algorithmNames) {
      const agree = agreement(decideBy(client, assemble([algorithms[name]]), `same-${name}:`))
      await fc.assert(fc.asyncProperty(scenarioArb([name], paramsArb), agree), { numRuns: 60 })
      t.pass(name)
    }
  })
}
