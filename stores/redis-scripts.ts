import { createHash } from 'node:crypto'
import { algorithmNames, algorithms } from '../algorithms/index.js'
import type { Algorithm } from '../algorithms/index.js'
import type { BanRule } from '../lib/core/algorithm.js'
import { ceilMulDivLua } from '../algorithms/rational.js'
import { debtLua } from '../algorithms/debt.js'
import { banGateAlgorithm, banStrikeLua } from '../algorithms/ban.js'

/**
 * The scripts the RedisStore runs: a prelude, the Lua twins of the algorithms (each kept in
 * its algorithms/<name>.ts as `Algorithm.lua`, beside the TypeScript function it translates)
 * and a driver.
 *
 * Each twin is the TypeScript function translated line by line, in the same order of
 * operations: Lua numbers are IEEE doubles like JavaScript's, `math.floor`, `math.ceil` and
 * `/` round alike, and `math.fmod` is JavaScript's `%` (Lua's own `%` is `a - floor(a/b)*b`,
 * which is not exact near 2^53). So a twin decides bit for bit as its TypeScript original;
 * test/stores/redis/agreement.test.ts checks it on random traffic, and test/stores/redis/lua-mutants.test.ts
 * that this check catches a broken twin.
 *
 * State is kept as one string per key: its expiry (epoch ms), a comma, then the state in its
 * text form (algorithms/encoding.ts), written with `%.0f` (Lua's default `%.14g` would round
 * numbers above 10^14). An expired state reads as none, as in the memory store, so decisions
 * never depend on when Redis itself drops the key (it does so at that same expiry, by `PXAT`).
 *
 * Each script decides a batch of requests (the calls of one turn of the event loop, on one
 * connection or one Cluster hash slot) one after another, exactly as separate calls would: a
 * request sees what the ones before it wrote. KEYS are the requests' keys in order (one per
 * window); `ARGV = per request: cost, now | '', its number of keys, then per key: its rate's
 * number (from 1); then per rate: algorithm code, limit, windowMs, burst; last, the number of
 * rates` (at the end, so that the store appends the rates it met to the batch's arguments).
 * The requests of a batch mostly share one rate, so it is sent once: per request and key one
 * argument, not four (measured: ioredis' writing of the arguments was most of the store's
 * client-side time; docs/performance.md). For each request the script decides every window and, when all allow, keeps
 * their new states; each key is written once, at the end (with `PXAT` from the algorithm's ttl). It returns, as integers,
 * the server's time (epoch ms), then per request `index * 2 + allowed` (the deciding bucket's
 * 0-based index), `remaining, resetMs, retryAfterMs`, then the 1-based KEYS indices of damaged
 * values (not a state this store wrote), which it read as empty and deleted. (The caller knows
 * each bucket's limit and each request's injected time; the fewer integers, the less ioredis
 * parses.) The peek driver, for one request, replies seven integers: `allowed, limit,
 * remaining, resetMs, retryAfterMs, index, now`.
 */

const prelude = `
local floor, ceil, fmod, max = math.floor, math.ceil, math.fmod, math.max
local find, byte, gmatch = string.find, string.byte, string.gmatch

local function num (x)
  return string.format('%.0f', x)
end

-- a key holds its expiry (epoch ms, on the clock that decided), then the state. A value this
-- store did not write (algorithms/encoding.ts decodeState's checks: safe integers in decimal,
-- as many as the algorithm's shape { fields, entries } allows) reads as nil: damaged
local function decode (raw, shape)
  -- one scan for a character other than digits, '-' and ','; then no empty part
  if find(raw, '[^%d,%-]') or find(raw, ',,', 1, true) or byte(raw, 1) == 44 or byte(raw, -1) == 44 then return nil end
  local e, v, k = nil, {}, 0
  for x in gmatch(raw, '[^,]+') do
    -- nil for '-', '1-2' and the like; a safe integer, as JavaScript reads it
    local n = tonumber(x)
    if n == nil or n > 9007199254740991 or n < -9007199254740991 then return nil end
    if e == nil then e = n else
      k = k + 1
      v[k] = n
    end
  end
  if e == nil then return nil end
  if shape then
    local extra = k - shape[1]
    if extra < 0 or (shape[2] == 0 and extra ~= 0) or (shape[2] > 0 and fmod(extra, shape[2]) ~= 0) then return nil end
  end
  return e, v
end

local function encode (e, state)
  local parts = { num(e) }
  for i = 1, #state do parts[i + 1] = num(state[i]) end
  return table.concat(parts, ',')
end

-- stores/store.ts moreRestrictive: whether a bucket's decision is the one a request reports
-- over the one chosen so far (b...): a denial over an allowance, then the longest retry, then
-- the lowest remaining
local function moreRestrictive (allowed, remaining, retry, bAllowed, bRemaining, bRetry)
  if allowed ~= bAllowed then return not allowed end
  if not allowed then return retry > bRetry end
  return remaining < bRemaining
end

-- the state a key holds at now: nil for none, an expired one or a damaged one (decode gives nil:
-- it reads as an empty bucket, as in the consume driver); then whether the key held a value
local function liveState (key, now)
  local raw = redis.call('GET', key)
  if not raw then return nil, false end
  local e, v = decode(raw)
  if e ~= nil and e > now then return v, true end
  return nil, true
end

local function clockNow ()
  local clock = redis.call('TIME')
  return tonumber(clock[1]) * 1000 + floor(tonumber(clock[2]) / 1000)
end

` + ceilMulDivLua + `
local steps = {}
`

/** Each built-in algorithm's state shape, by code: its number of fields, and of integers per entry. */
const shapes = 'local shapes = { ' + [...algorithmNames.map((name) => algorithms[name]), banGateAlgorithm].map((algorithm) => {
  const { code, fields, entries = [] } = algorithm
  return `${code} = { ${fields.length}, ${entries.length} }`
}).join(', ') + ' }\n'

const driver = shapes + `
local serverNow = clockNow()
local out, damaged = {}, {}
-- Each key is read once per batch and written once at its end: \`known\` holds its state as the
-- requests before decided it ({ expiry, state }, false for none), so that a client sending many
-- requests in one turn costs one GET and one SET, not one of each per request (measured: the
-- SET inside the script was a third of its time per request)
local known, expiry, written = {}, {}, {}
out[1] = serverNow
-- the rates the requests' keys name by number: each read once per batch, as the table the
-- twins take (they never write to it)
local nr = tonumber(ARGV[#ARGV])
local last = #ARGV - 1 - nr * 4
local codes, rates = {}, {}
for r = 1, nr do
  local b = last + 1 + (r - 1) * 4
  codes[r] = ARGV[b]
  rates[r] = { limit = tonumber(ARGV[b + 1]), windowMs = tonumber(ARGV[b + 2]), burst = tonumber(ARGV[b + 3]) }
end
local k, a, o = 0, 1, 1
-- one request after another, exactly as separate calls would decide them: a request sees the
-- states the requests before it in the batch wrote
while a <= last do
  local cost = tonumber(ARGV[a])
  local now = serverNow
  if ARGV[a + 1] ~= '' then now = tonumber(ARGV[a + 1]) end
  local n = tonumber(ARGV[a + 2])
  -- Redis expires keys by its own clock. When an injected clock (tests) decides and lags it,
  -- keys are kept longer by twice the lag, so that none vanishes while it still counts on the
  -- injected clock; on the server's clock a key expires exactly when its state does.
  local lag = 0
  if serverNow > now then lag = serverNow - now end

  local states, ttls = {}, {}
  local best, bAllowed, bLimit, bRemaining, bReset, bRetry
  for i = 1, n do
    local r = tonumber(ARGV[a + 2 + i])
    local code, p = codes[r], rates[r]
    local limit = p.limit
    local key = KEYS[k + i]
    local c = known[key]
    if c == nil then
      c = false
      local raw = redis.call('GET', key)
      if raw then
        local e, v = decode(raw, shapes[code])
        -- a damaged state (a value this store did not write) is deleted and reads as none, and
        -- the reply names its key
        if e == nil then
          redis.call('DEL', key)
          damaged[#damaged + 1] = k + i
        else
          c = { e, v }
        end
      end
      known[key] = c
    end
    -- an expired state reads as none, exactly as in the memory store
    local s = nil
    if c and c[1] > now then s = c[2] end
    -- the twins take the rate as one table, as the TypeScript functions take AlgorithmParams
    local allowed, remaining, resetMs, retry, state, ttl = steps[code](s, now, cost, p)
    states[i] = state
    ttls[i] = ttl
    if best == nil or moreRestrictive(allowed, remaining, retry, bAllowed, bRemaining, bRetry) then
      best, bAllowed, bLimit, bRemaining, bReset, bRetry = i, allowed, limit, remaining, resetMs, retry
    end
  end
  if bAllowed then
    for i = 1, n do
      -- a ban's gate (algorithms/ban.ts) returns no state: it only reads
      if states[i] then
        local key = KEYS[k + i]
        local e = now + ttls[i]
        known[key] = { e, states[i] }
        if not expiry[key] then written[#written + 1] = key end
        expiry[key] = e + 2 * lag
      end
    end
  end
  -- the deciding bucket's index and whether it allowed, in one integer; the caller knows the
  -- bucket's limit and the request's injected time (the reply's first integer is the server's)
  local flag = 0
  if bAllowed then flag = 1 end
  out[o + 1], out[o + 2], out[o + 3], out[o + 4] = (best - 1) * 2 + flag, bRemaining, bReset, bRetry
  o = o + 4
  k = k + n
  a = a + 3 + n
end
-- each key written once, with the state the last request that changed it left: no one can read
-- the states in between (the script is atomic), so this is what the separate writes would leave
for i = 1, #written do
  local key = written[i]
  local c = known[key]
  redis.call('SET', key, encode(c[1], c[2]), 'PXAT', num(expiry[key]))
end
-- after the decisions, the (1-based) KEYS indices of the damaged states
for i = 1, #damaged do out[o + i] = damaged[i] end
return out
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
  // every consume script has the ban gate's twin: a route with a ban puts it before its buckets
  return hashed(prelude + banGateAlgorithm.lua + twins.map((algorithm) => algorithm.lua).join('') + driver)
}

const builtIn = algorithmNames.map((name) => algorithms[name])

/** The algorithm codes (`Algorithm.code`) that have a script: the built-in algorithms'. */
export const scriptCodes: readonly string[] = builtIn.map((algorithm) => algorithm.code)

/** Every twin in one script, for a request whose windows use different algorithms. */
export const mixedScript: RedisScript = assemble(builtIn)

/**
 * One script per algorithm, by algorithm code: what a request whose windows share an
 * algorithm runs. A request with a ban's gate before its buckets runs the mixed script.
 */
export const scripts: Readonly<Record<string, RedisScript>> = Object.fromEntries([
  ...builtIn.map((algorithm) => [algorithm.code, assemble([algorithm])]),
  [banGateAlgorithm.code, mixedScript]
])

/**
 * Deletes the key `KEYS[1]` when its state has expired at `ARGV[1]` (or the server's clock
 * when it is ''), or is damaged. Returns 1 when it deleted it.
 */
export const sweepScript: RedisScript = hashed(prelude + `
local raw = redis.call('GET', KEYS[1])
local now = clockNow()
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) end
if raw then
  local e = decode(raw)
  if e ~= nil and e > now then return 0 end
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// ---------------------------------------------------------------- refund, charge and peek

/**
 * The driver of the scripts that pass each key through one step of its algorithm: the refund
 * (`table` 'refunds', the twins of `Algorithm.refundLua`) and the charge ('charges', of
 * `Algorithm.chargeLua`), for one request: `KEYS` its keys, `ARGV = cost, now | '', then per key:
 * algorithm code, limit, windowMs, burst`. Each key's state
 * is read as the consume driver reads it (an expired one is none), given `cost` by the step,
 * and written back with its new expiry, or deleted when the step leaves none (a refund that
 * empties the bucket); all in one script, so all keys or none. Returns the time it ran at.
 */
function writeDriver (table: 'refunds' | 'charges'): string {
  return `
local cost = tonumber(ARGV[1])
local serverNow = clockNow()
local now = serverNow
if ARGV[2] ~= '' then now = tonumber(ARGV[2]) end
-- keys kept longer by twice the lag of an injected clock, as in the consume driver
local lag = 0
if serverNow > now then lag = serverNow - now end
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 4
  local s, held = liveState(KEYS[i], now)
  local p = { limit = tonumber(ARGV[a + 1]), windowMs = tonumber(ARGV[a + 2]), burst = tonumber(ARGV[a + 3]) }
  local state, ttl = ${table}[ARGV[a]](s, now, cost, p)
  if state then
    local e = now + ttl
    redis.call('SET', KEYS[i], encode(e, state), 'PXAT', num(e + 2 * lag))
  elseif held then
    -- an empty bucket is no state
    redis.call('DEL', KEYS[i])
  end
end
return now
`
}

/**
 * The peek driver: the consume driver's decision for one request, with nothing written. `KEYS`
 * and `ARGV` as the refund driver takes them; the reply is seven integers, `allowed, limit, remaining,
 * resetMs, retryAfterMs, index, now`.
 */
const peekDriver = `
local cost = tonumber(ARGV[1])
local now = clockNow()
if ARGV[2] ~= '' then now = tonumber(ARGV[2]) end
local best, bAllowed, bLimit, bRemaining, bReset, bRetry
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 4
  local limit = tonumber(ARGV[a + 1])
  local s = liveState(KEYS[i], now)
  local p = { limit = limit, windowMs = tonumber(ARGV[a + 2]), burst = tonumber(ARGV[a + 3]) }
  local allowed, remaining, resetMs, retry = steps[ARGV[a]](s, now, cost, p)
  if best == nil or moreRestrictive(allowed, remaining, retry, bAllowed, bRemaining, bRetry) then
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
  return hashed(prelude + 'local refunds = {}\n' + twins.map((algorithm) => algorithm.lua + algorithm.refundLua).join('') + writeDriver('refunds'))
}

/**
 * The charge script for `twins` (each with its consume chunk, whose helpers a charge twin may
 * use, then its charge chunk), with the bound's `maxHeld` (algorithms/debt.ts) before them.
 * Exported so that the Lua mutation tests can assemble one with a broken charge twin.
 * @internal
 */
export function assembleCharge (twins: ReadonlyArray<Pick<Algorithm<any>, 'lua' | 'chargeLua'>>): RedisScript {
  return hashed(prelude + debtLua + 'local charges = {}\n' + twins.map((algorithm) => algorithm.lua + algorithm.chargeLua).join('') + writeDriver('charges'))
}

/** The peek script for `twins`. @internal */
export function assemblePeek (twins: ReadonlyArray<Pick<Algorithm<any>, 'lua'>>): RedisScript {
  return hashed(prelude + banGateAlgorithm.lua + twins.map((algorithm) => algorithm.lua).join('') + peekDriver)
}

/** One refund script per algorithm, by algorithm code. */
export const refundScripts: Readonly<Record<string, RedisScript>> = Object.fromEntries(
  builtIn.map((algorithm) => [algorithm.code, assembleRefund([algorithm])])
)

/** Every refund twin in one script, for buckets of different algorithms. */
export const mixedRefundScript: RedisScript = assembleRefund(builtIn)

/** One charge script per algorithm, by algorithm code. */
export const chargeScripts: Readonly<Record<string, RedisScript>> = Object.fromEntries(
  builtIn.map((algorithm) => [algorithm.code, assembleCharge([algorithm])])
)

/** Every charge twin in one script, for buckets of different algorithms. */
export const mixedChargeScript: RedisScript = assembleCharge(builtIn)

/** Every twin in one peek script, for buckets of different algorithms (and behind a ban's gate). */
export const mixedPeekScript: RedisScript = assemblePeek(builtIn)

/** One peek script per algorithm, by algorithm code. */
export const peekScripts: Readonly<Record<string, RedisScript>> = Object.fromEntries([
  ...builtIn.map((algorithm) => [algorithm.code, assemblePeek([algorithm])]),
  [banGateAlgorithm.code, mixedPeekScript]
])

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

// ---------------------------------------------------------------- bans

/**
 * Counts one denial toward a ban (`Store.strike`) by the Lua twin of algorithms/ban.ts
 * `banStrike`, in one script: of many requests striking at once, exactly one starts the ban.
 * `KEYS[1]` is the ban key; `ARGV = after, forMs, backoffMilli, maxMs, windowMs, extend (1 | 0),
 * longestWindowMs, now | ''`.
 * The state is kept as the consume driver keeps states (expiry, then the text form), so the
 * gate reads it. Returns `{ until, started }`.
 */
export const strikeScript: RedisScript = hashed(prelude + banStrikeLua + `
local serverNow = clockNow()
local now = serverNow
if ARGV[8] ~= '' then now = tonumber(ARGV[8]) end
local lag = 0
if serverNow > now then lag = serverNow - now end
local raw = redis.call('GET', KEYS[1])
local s = nil
if raw then
  -- a damaged value reads as no state (and is overwritten by the next write)
  local e, v = decode(raw, { 6, 0 })
  if e ~= nil and e > now then s = v end
end
local state, ttl, untilMs, started = banStrike(s, now, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))
if state then
  local e = now + ttl
  redis.call('SET', KEYS[1], encode(e, state), 'PXAT', num(e + 2 * lag))
end
return { untilMs, started }
`)

/** The `ARGV` of `strikeScript` for `rule` at `now` (`''`: the server's clock). */
export function strikeArgs (rule: BanRule, now: number | undefined): Array<number | string> {
  return [rule.after, rule.forMs, rule.backoffMilli, rule.maxMs, rule.windowMs, rule.extend === true ? 1 : 0, rule.longestWindowMs ?? rule.windowMs, now ?? '']
}
