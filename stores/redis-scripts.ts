import { createHash } from 'node:crypto'
import { algorithmNames, algorithms } from '../algorithms/index.js'
import type { Algorithm } from '../algorithms/index.js'
import { ceilMulDivLua } from '../algorithms/rational.js'

/**
 * The scripts the RedisStore runs: a prelude, the Lua twins of the algorithms (each kept in
 * its algorithms/<name>.ts as `Algorithm.lua`, beside the TypeScript function it translates)
 * and a driver.
 *
 * Each twin is the TypeScript function translated line by line, in the same order of
 * operations: Lua numbers are IEEE doubles like JavaScript's, `math.floor`, `math.ceil` and
 * `/` round alike, and `math.fmod` is JavaScript's `%` (Lua's own `%` is `a - floor(a/b)*b`,
 * which is not exact near 2^53). So a twin decides bit for bit as its TypeScript original;
 * test/redis/agreement.test.ts checks it on random traffic, and test/redis/lua-mutants.test.ts
 * that this check catches a broken twin.
 *
 * State is kept as one string per key: its expiry (epoch ms), a comma, then the state in its
 * text form (algorithms/encoding.ts), written with `%.0f` (Lua's default `%.14g` would round
 * numbers above 10^14). An expired state reads as none, as in the memory store, so decisions
 * never depend on when Redis itself drops the key (it does so at that same expiry, by `PXAT`).
 *
 * Each script takes the request's keys (one per window) and
 * `ARGV = cost, now | '', then per key: algorithm code, limit, windowMs, burst`, decides every
 * window, writes them all only when all allow (with `PX` from the algorithm's ttl), and returns
 * `{ allowed, limit, remaining, resetMs, retryAfterMs, index, now }` as integers.
 */

const prelude = `
local floor, ceil, fmod, max = math.floor, math.ceil, math.fmod, math.max

local function num (x)
  return string.format('%.0f', x)
end

-- a key holds its expiry (epoch ms, on the clock that decided), then the state
local function decode (raw)
  local e, v = nil, {}
  for x in string.gmatch(raw, '[^,]+') do
    if e == nil then e = tonumber(x) else v[#v + 1] = tonumber(x) end
  end
  return e, v
end

local function encode (e, state)
  local parts = { num(e) }
  for i = 1, #state do parts[i + 1] = num(state[i]) end
  return table.concat(parts, ',')
end

local function clockNow ()
  local clock = redis.call('TIME')
  return tonumber(clock[1]) * 1000 + floor(tonumber(clock[2]) / 1000)
end

` + ceilMulDivLua + `
local steps = {}
`

const driver = `
local cost = tonumber(ARGV[1])
local serverNow = clockNow()
local now = serverNow
if ARGV[2] ~= '' then now = tonumber(ARGV[2]) end
-- Redis expires keys by its own clock. When an injected clock (tests) decides and lags it,
-- keys are kept longer by twice the lag, so that none vanishes while it still counts on the
-- injected clock; on the server's clock a key expires exactly when its state does.
local lag = 0
if serverNow > now then lag = serverNow - now end

local states, ttls = {}, {}
local best, bAllowed, bLimit, bRemaining, bReset, bRetry
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 4
  local limit = tonumber(ARGV[a + 1])
  local raw = redis.call('GET', KEYS[i])
  local s = nil
  if raw then
    local e, v = decode(raw)
    -- an expired state reads as none, exactly as in the memory store
    if e > now then s = v end
  end
  -- the twins take the rate as one table, as the TypeScript functions take AlgorithmParams
  local p = { limit = limit, windowMs = tonumber(ARGV[a + 2]), burst = tonumber(ARGV[a + 3]) }
  local allowed, remaining, resetMs, retry, state, ttl = steps[ARGV[a]](s, now, cost, p)
  states[i] = state
  ttls[i] = ttl
  -- stores/store.ts moreRestrictive: a denial over an allowance, then the longest retry,
  -- then the lowest remaining
  local pick = best == nil
  if not pick then
    if allowed ~= bAllowed then
      pick = not allowed
    elseif not allowed then
      pick = retry > bRetry
    else
      pick = remaining < bRemaining
    end
  end
  if pick then
    best, bAllowed, bLimit, bRemaining, bReset, bRetry = i, allowed, limit, remaining, resetMs, retry
  end
end
if bAllowed then
  for i = 1, #KEYS do
    local e = now + ttls[i]
    redis.call('SET', KEYS[i], encode(e, states[i]), 'PXAT', num(e + 2 * lag))
  end
end
local flag = 0
if bAllowed then flag = 1 end
return { flag, bLimit, bRemaining, bReset, bRetry, best - 1, now }
`

/** One script as the store sends it: its source and the SHA1 that EVALSHA names it by. */
export interface RedisScript {
  readonly lua: string
  readonly sha: string
}

function hashed (lua: string): RedisScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * The script that runs `twins`, the algorithms' Lua twins (`Algorithm.lua`), in one
 * EVALSHA. Exported so that the Lua mutation tests can assemble one with a broken twin.
 * @internal
 */
export function assemble (twins: ReadonlyArray<Pick<Algorithm<any>, 'lua'>>): RedisScript {
  return hashed(prelude + twins.map((algorithm) => algorithm.lua).join('') + driver)
}

const builtIn = algorithmNames.map((name) => algorithms[name])

/** The algorithm codes (`Algorithm.code`) that have a script: the built-in algorithms'. */
export const scriptCodes: readonly string[] = builtIn.map((algorithm) => algorithm.code)

/** One script per algorithm, by algorithm code: what a request whose windows share an algorithm runs. */
export const scripts: Readonly<Record<string, RedisScript>> = Object.fromEntries(
  builtIn.map((algorithm) => [algorithm.code, assemble([algorithm])])
)

/** Every twin in one script, for a request whose windows use different algorithms. */
export const mixedScript: RedisScript = assemble(builtIn)

/**
 * Deletes the key `KEYS[1]` when its state has expired at `ARGV[1]` (or the server's clock
 * when it is ''). Returns 1 when it deleted it.
 */
export const sweepScript: RedisScript = hashed(prelude + `
local raw = redis.call('GET', KEYS[1])
local now = clockNow()
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) end
if raw and decode(raw) <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// ---------------------------------------------------------------- refund and peek

/**
 * The refund driver: `KEYS` and `ARGV` as the consume driver takes them. Each key's state is
 * read as the consume driver reads it (an expired one is none), given `cost` back by its
 * algorithm's refund twin (`Algorithm.refundLua`), and written back with its new expiry, or
 * deleted when the bucket is empty again; all in one script, so all keys or none. Returns the
 * time it refunded at.
 */
const refundDriver = `
local cost = tonumber(ARGV[1])
local serverNow = clockNow()
local now = serverNow
if ARGV[2] ~= '' then now = tonumber(ARGV[2]) end
-- keys kept longer by twice the lag of an injected clock, as in the consume driver
local lag = 0
if serverNow > now then lag = serverNow - now end
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 4
  local raw = redis.call('GET', KEYS[i])
  local s = nil
  if raw then
    local e, v = decode(raw)
    if e > now then s = v end
  end
  local p = { limit = tonumber(ARGV[a + 1]), windowMs = tonumber(ARGV[a + 2]), burst = tonumber(ARGV[a + 3]) }
  local state, ttl = refunds[ARGV[a]](s, now, cost, p)
  if state then
    local e = now + ttl
    redis.call('SET', KEYS[i], encode(e, state), 'PXAT', num(e + 2 * lag))
  elseif raw then
    -- an empty bucket is no state
    redis.call('DEL', KEYS[i])
  end
end
return now
`

/**
 * The peek driver: the consume driver's decision, with nothing written. Same `KEYS`, `ARGV`
 * and reply as the consume driver.
 */
const peekDriver = `
local cost = tonumber(ARGV[1])
local now = clockNow()
if ARGV[2] ~= '' then now = tonumber(ARGV[2]) end
local best, bAllowed, bLimit, bRemaining, bReset, bRetry
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 4
  local limit = tonumber(ARGV[a + 1])
  local raw = redis.call('GET', KEYS[i])
  local s = nil
  if raw then
    local e, v = decode(raw)
    if e > now then s = v end
  end
  local p = { limit = limit, windowMs = tonumber(ARGV[a + 2]), burst = tonumber(ARGV[a + 3]) }
  local allowed, remaining, resetMs, retry = steps[ARGV[a]](s, now, cost, p)
  -- the same choice as the consume driver (stores/store.ts moreRestrictive)
  local pick = best == nil
  if not pick then
    if allowed ~= bAllowed then
      pick = not allowed
    elseif not allowed then
      pick = retry > bRetry
    else
      pick = remaining < bRemaining
    end
  end
  if pick then
    best, bAllowed, bLimit, bRemaining, bReset, bRetry = i, allowed, limit, remaining, resetMs, retry
  end
end
local flag = 0
if bAllowed then flag = 1 end
return { flag, bLimit, bRemaining, bReset, bRetry, best - 1, now }
`

/**
 * The refund script for `twins` (each with its consume chunk, whose helpers a refund twin may
 * use, then its refund chunk). Exported so that the Lua mutation tests can assemble one with a
 * broken refund twin.
 * @internal
 */
export function assembleRefund (twins: ReadonlyArray<Pick<Algorithm<any>, 'lua' | 'refundLua'>>): RedisScript {
  return hashed(prelude + 'local refunds = {}\n' + twins.map((algorithm) => algorithm.lua + algorithm.refundLua).join('') + refundDriver)
}

/** The peek script for `twins`. @internal */
export function assemblePeek (twins: ReadonlyArray<Pick<Algorithm<any>, 'lua'>>): RedisScript {
  return hashed(prelude + twins.map((algorithm) => algorithm.lua).join('') + peekDriver)
}

/** One refund script per algorithm, by algorithm code. */
export const refundScripts: Readonly<Record<string, RedisScript>> = Object.fromEntries(
  builtIn.map((algorithm) => [algorithm.code, assembleRefund([algorithm])])
)

/** Every refund twin in one script, for buckets of different algorithms. */
export const mixedRefundScript: RedisScript = assembleRefund(builtIn)

/** One peek script per algorithm, by algorithm code. */
export const peekScripts: Readonly<Record<string, RedisScript>> = Object.fromEntries(
  builtIn.map((algorithm) => [algorithm.code, assemblePeek([algorithm])])
)

/** Every twin in one peek script, for buckets of different algorithms. */
export const mixedPeekScript: RedisScript = assemblePeek(builtIn)

// ---------------------------------------------------------------- concurrency slots

/**
 * Takes one of `ARGV[1]` slots under `KEYS[1]`, a sorted set of lease tokens scored by their
 * expiry: expired leases are dropped, the live ones counted and, below the limit, the token
 * `ARGV[3]` added to expire `ARGV[2]` ms from now (`ARGV[4]`, or the server's clock when it is
 * ''); the key lives as long as its newest lease. Returns `{ allowed, inFlight }`.
 */
export const acquireScript: RedisScript = hashed(`
local limit, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local now
if ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
if held >= limit then return { 0, held } end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease)
return { 1, held + 1 }
`)
