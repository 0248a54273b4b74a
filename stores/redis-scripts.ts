import { createHash } from 'node:crypto'

/**
 * The Lua twins of the six algorithms in algorithms/, run inside Redis by the RedisStore.
 *
 * Each twin is the TypeScript function translated line by line, in the same order of
 * operations: Lua numbers are IEEE doubles like JavaScript's, `math.floor`, `math.ceil` and
 * `/` round alike, and `math.fmod` is JavaScript's `%` (Lua's own `%` is `a - floor(a/b)*b`,
 * which is not exact near 2^53). So a twin decides bit for bit as its TypeScript original;
 * test/redis/agreement.test.ts checks it on random traffic.
 *
 * State is kept as one string per key: its expiry (epoch ms), then the state's integers,
 * written with `%.0f` (Lua's default `%.14g` would round numbers above 10^14) and joined by
 * commas. An expired state reads as none, as in the memory store, so decisions never depend on
 * when Redis itself drops the key (it does so at that same expiry, by `PXAT`).
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

-- algorithms/rational.ts ceilMulDiv
local function ceilMulDiv (a, mul, div, extra)
  return floor(a / div) * mul + ceil((fmod(a, div) * mul + extra) / div)
end

local steps = {}
`

/**
 * Every step has the signature `(state | nil, now, cost, limit, windowMs, burst)` and returns
 * `allowed, remaining, resetMs, retryAfterMs[, state, ttlMs]` (the state only when allowed).
 */
const twins: Record<string, string> = {
  // algorithms/fixed-window.ts; state: w, c
  fw: `
steps.fw = function (s, now, cost, limit, windowMs)
  -- a clock behind the stored window counts in that window
  local w = floor(now / windowMs)
  if s and s[1] > w then w = s[1] end
  local count = 0
  if s and s[1] == w then count = s[2] end
  local e = (w + 1) * windowMs
  if count + cost <= limit then
    return true, limit - count - cost, e, 0, { w, count + cost }, e - now
  end
  return false, limit - count, e, e - now
end
`,
  // algorithms/sliding-window.ts; state: w, c, p
  sw: `
local function firstFit (prevCount, room, windowMs)
  if room < 0 then return windowMs end
  if prevCount == 0 then return 0 end
  return max(0, windowMs - floor(room * windowMs / prevCount))
end

steps.sw = function (s, now, cost, limit, windowMs)
  -- a clock behind the stored window decides as at that window's start
  local at = now
  if s and s[1] * windowMs > now then at = s[1] * windowMs end
  local w = floor(at / windowMs)
  local elapsed = at - w * windowMs
  local curr, prev = 0, 0
  if s then
    if s[1] == w then
      curr = s[2]
      prev = s[3]
    elseif s[1] == w - 1 then
      prev = s[2]
    end
  end
  local capacity = limit * windowMs
  local used = prev * (windowMs - elapsed) + curr * windowMs
  if used + cost * windowMs <= capacity then
    local e = (w + 2) * windowMs
    return true, floor((capacity - used - cost * windowMs) / windowMs), e, 0, { w, curr + cost, prev }, e - now
  end
  local resetMs = (w + 1) * windowMs
  if curr > 0 then resetMs = (w + 2) * windowMs end
  local remaining = max(0, floor((capacity - used) / windowMs))
  local start = w * windowMs
  local inCurrent = firstFit(prev, limit - curr - cost, windowMs)
  local retry
  if inCurrent < windowMs then
    retry = max(inCurrent, elapsed) - elapsed
  else
    retry = start + windowMs + firstFit(curr, limit - cost, windowMs) - at
  end
  return false, remaining, resetMs, retry + at - now
end
`,
  // algorithms/sliding-log.ts; state: oldest time, then (offset from it, cost) per entry
  sl: `
steps.sl = function (s, now, cost, limit, windowMs)
  local times, costs, used = {}, {}, 0
  if s then
    for i = 2, #s, 2 do
      local at = s[1] + s[i]
      if at > now - windowMs then
        times[#times + 1] = at
        costs[#costs + 1] = s[i + 1]
        used = used + s[i + 1]
      end
    end
  end
  local allowed = used + cost <= limit
  if allowed then
    local last = #times
    if last >= 1 and times[last] >= now then
      costs[last] = costs[last] + cost
    else
      times[last + 1] = now
      costs[last + 1] = cost
    end
  end
  local resetMs = times[#times] + windowMs
  if allowed then
    local state = { times[1] }
    for i = 1, #times do
      state[2 * i] = times[i] - times[1]
      state[2 * i + 1] = costs[i]
    end
    return true, limit - used - cost, resetMs, 0, state, resetMs - now
  end
  local i = 1
  local left = used - costs[1]
  while left + cost > limit do
    i = i + 1
    left = left - costs[i]
  end
  return false, limit - used, resetMs, times[i] + windowMs - now
end
`,
  // algorithms/token-bucket.ts; state: n, f, t
  tb: `
local function tbUntil (missing, f, limit, windowMs)
  return ceilMulDiv(missing, windowMs, limit, -f)
end

steps.tb = function (s, now, cost, limit, windowMs, burst)
  local at, n, f = now, burst, 0
  if s then
    at = max(now, s[3])
    local elapsed = at - s[3]
    if elapsed < tbUntil(burst - s[1], s[2], limit, windowMs) then
      local gained = s[2] + fmod(elapsed, windowMs) * limit
      n = s[1] + floor(elapsed / windowMs) * limit + floor(gained / windowMs)
      f = fmod(gained, windowMs)
    end
  end
  local allowed = n >= cost
  if allowed then n = n - cost end
  local resetMs = at + tbUntil(burst - n, f, limit, windowMs)
  if allowed then
    return true, n, resetMs, 0, { n, f, at }, resetMs - now
  end
  return false, n, resetMs, at + tbUntil(cost - n, f, limit, windowMs) - now
end
`,
  // algorithms/leaky-bucket.ts; state: l, f, t
  lb: `
local function lbLeak (whole, f, limit, windowMs)
  return ceilMulDiv(whole, windowMs, limit, f)
end

steps.lb = function (s, now, cost, limit, windowMs, burst)
  local at, l, f = now, 0, 0
  if s then
    at = max(now, s[3])
    local elapsed = at - s[3]
    if elapsed < lbLeak(s[1], s[2], limit, windowMs) then
      local left = s[2] - fmod(elapsed, windowMs) * limit
      local borrow = floor(left / windowMs)
      l = s[1] - floor(elapsed / windowMs) * limit + borrow
      f = left - borrow * windowMs
    end
  end
  local up = 0
  if f > 0 then up = 1 end
  local allowed = l + up + cost <= burst
  if allowed then l = l + cost end
  local resetMs = at + lbLeak(l, f, limit, windowMs)
  if allowed then
    return true, burst - l - up, resetMs, 0, { l, f, at }, resetMs - now
  end
  return false, burst - l - up, resetMs, at + lbLeak(l + cost - burst, f, limit, windowMs) - now
end
`,
  // algorithms/gcra.ts; state: t, f
  gc: `
local function later (t, f, units, limit, windowMs)
  local part = f + fmod(units, limit) * windowMs
  return t + floor(units / limit) * windowMs + floor(part / limit), fmod(part, limit)
end

steps.gc = function (s, now, cost, limit, windowMs, burst)
  local t, f = now, 0
  if s and s[1] >= now then
    t = s[1]
    f = s[2]
  end
  local nt, nf = later(t, f, cost, limit, windowMs)
  local bt, bf = later(now, 0, burst, limit, windowMs)
  local allowed = nt < bt or (nt == bt and nf <= bf)
  local tt, tf = t, f
  if allowed then
    tt = nt
    tf = nf
  end
  local resetMs = tt
  if tf > 0 then resetMs = tt + 1 end
  local remaining = max(0, burst - ceilMulDiv(tt - now, limit, windowMs, tf))
  if allowed then
    return true, remaining, resetMs, 0, { tt, tf }, resetMs - now
  end
  local retry = nt - bt
  if nf > bf then retry = retry + 1 end
  return false, remaining, resetMs, retry
end
`
}

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
  local allowed, remaining, resetMs, retry, state, ttl =
    steps[ARGV[a]](s, now, cost, limit, tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]))
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

function script (codes: readonly string[]): RedisScript {
  return hashed(prelude + codes.map((code) => twins[code]).join('') + driver)
}

/** The algorithm codes (`Algorithm.code`) that have a Lua twin. */
export const scriptCodes: readonly string[] = Object.keys(twins)

/** One script per algorithm, by algorithm code: what a request whose windows share an algorithm runs. */
export const scripts: Readonly<Record<string, RedisScript>> = Object.fromEntries(
  scriptCodes.map((code) => [code, script([code])])
)

/** All six twins in one script, for a request whose windows use different algorithms. */
export const mixedScript: RedisScript = script(scriptCodes)

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
