import t from 'tap'
import fc from 'fast-check'
import type { Redis } from '../../support/redis.js'
import { algorithmNames, algorithms } from '../../../algorithms/index.js'
import type { AlgorithmName } from '../../../algorithms/index.js'
import { assemble, assembleRefund } from '../../../stores/redis-scripts.js'
import { RedisStore } from '../../../stores/redis.js'
import type { RedisScript } from '../../../stores/redis-scripts.js'
import { paramsArb } from '../../support/algorithms.js'
import { agreement, refundAgreement, refundScenarioArb, scenarioArb } from '../../support/agreement.js'
import type { Decide, Refund } from '../../support/agreement.js'
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
    // the consume step's own (tbRefilled, for the refund and charge twins, has the same line)
    from: 'local gained = s[2] + fmod(elapsed, windowMs) * limit\n      n = s[1]',
    to: 'local gained = s[2] + elapsed * limit\n      n = s[1]'
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
    const args = buckets.flatMap(({ algorithm, params }) => [algorithm.code, params.limit, params.windowMs, params.burst])
    // one request in the scripts' batch layout: cost, now, its number of keys, then per key the rate
    const r = await client.call('eval', script.lua, keys.length, ...keys, cost, now, keys.length, ...args) as number[]
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

/** The real twins of `name` with `from` replaced by `to` in its refund twin. */
function mutateRefund ({ algorithm, from, to }: Mutant): RedisScript {
  const { lua, refundLua } = algorithms[algorithm]
  if (refundLua.split(from).length !== 2) throw new Error(`${algorithm}: '${from}' does not occur exactly once in its refund twin`)
  return assembleRefund([{ lua, refundLua: refundLua.replace(from, to) }])
}

/** Refunds through `script` as the RedisStore does, by EVAL, on keys under `prefix`. */
function refundBy (client: Redis, script: RedisScript, prefix: string): Refund {
  return async (buckets, cost, now) => {
    const keys = buckets.map(({ key }) => prefix + key)
    const args = buckets.flatMap(({ algorithm, params }) => [algorithm.code, params.limit, params.windowMs, params.burst])
    await client.call('eval', script.lua, keys.length, ...keys, cost, now, ...args)
  }
}

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const client = connect(t, server.port)

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
        refundBy(client, mutateRefund(mutant), prefix),
        (buckets, cost, now) => store.peek(buckets, cost, now)
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
        refundBy(client, assembleRefund([algorithms[name]]), prefix),
        (buckets, cost, now) => store.peek(buckets, cost, now)
      )
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
