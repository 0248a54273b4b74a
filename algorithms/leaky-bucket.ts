import type { Algorithm, AlgorithmParams, AlgorithmResult, ChargeResult, RefundResult } from '../lib/core/algorithm.js'
import { ceilMulDiv } from './rational.js'
import { maxHeld } from './debt.js'

/**
 * State: the bucket holds `l + f / W` units at time `t` (epoch ms), with `0 <= f < W`. The
 * fraction is kept as an integer numerator over W because L / W units per millisecond is
 * rarely a whole number.
 */
export interface LeakyBucketState {
  l: number
  f: number
  t: number
}

/**
 * Leaky bucket (as a meter): each request pours its cost into a bucket of capacity `burst`
 * (default L) that leaks L per W; a request is allowed while `level + cost <= burst`. No state
 * is an empty bucket. It decides exactly as the token bucket does, from the other side. A
 * bucket in debt (charged past full, see `leakyBucketCharge`) holds more than `burst`, and
 * leaks it the same way.
 */
export function leakyBucket (
  state: LeakyBucketState | undefined,
  now: number,
  cost: number,
  { limit, windowMs, burst }: AlgorithmParams
): AlgorithmResult<LeakyBucketState> {
  let at = now
  let l = 0
  let f = 0
  if (state !== undefined) {
    // A clock behind the stored one (another process, another server) counts as the stored time.
    at = Math.max(now, state.t)
    const elapsed = at - state.t
    if (elapsed < msToLeak(state.l, state.f, limit, windowMs)) {
      const left = state.f - (elapsed % windowMs) * limit
      const borrow = Math.floor(left / windowMs)
      l = state.l - Math.floor(elapsed / windowMs) * limit + borrow
      f = left - borrow * windowMs
    }
  }
  // level + cost <= burst, with the level rounded up since cost and burst are whole
  const allowed = l + (f > 0 ? 1 : 0) + cost <= burst
  if (allowed) l += cost
  const resetMs = at + msToLeak(l, f, limit, windowMs)
  return {
    state: { l, f, t: at },
    decision: {
      allowed,
      limit,
      // a bucket in debt holds more than burst: none remains
      remaining: Math.max(0, burst - l - (f > 0 ? 1 : 0)),
      resetMs,
      retryAfterMs: allowed ? 0 : at + msToLeak(l + cost - burst, f, limit, windowMs) - now
    },
    ttlMs: resetMs - now
  }
}

/**
 * Milliseconds until `whole + f / W` units have leaked: units counted in 1 / W leak L per ms,
 * so it is `ceil((whole * W + f) / L)`.
 */
function msToLeak (whole: number, f: number, limit: number, windowMs: number): number {
  return ceilMulDiv(whole, windowMs, limit, f)
}

/** The Lua twin of `leakyBucket`, line by line (see `Algorithm.lua`); state: l, f, t. */
const lua = `
local function lbLeak (whole, f, limit, windowMs)
  return ceilMulDiv(whole, windowMs, limit, f)
end

steps.lb = function (s, now, cost, p)
  local limit, windowMs, burst = p.limit, p.windowMs, p.burst
  local at, l, f = now, 0, 0
  if s then
    -- a clock behind the stored one counts as the stored time
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
  return false, max(0, burst - l - up), resetMs, at + lbLeak(l + cost - burst, f, limit, windowMs) - now
end
`

/**
 * The bucket at `now` (or at its own time, on a clock behind it), leaked: a new state, empty
 * when there was none or it has emptied since. (`consume` keeps the same steps inline: its hot
 * path stays as it was measured.)
 */
function leaked (state: LeakyBucketState | undefined, now: number, { limit, windowMs }: AlgorithmParams): LeakyBucketState {
  if (state === undefined) return { l: 0, f: 0, t: now }
  const at = Math.max(now, state.t)
  const elapsed = at - state.t
  if (elapsed >= msToLeak(state.l, state.f, limit, windowMs)) return { l: 0, f: 0, t: at }
  const left = state.f - (elapsed % windowMs) * limit
  const borrow = Math.floor(left / windowMs)
  return { l: state.l - Math.floor(elapsed / windowMs) * limit + borrow, f: left - borrow * windowMs, t: at }
}

/**
 * Takes `cost` units back out of the bucket at `now`, never below empty: an empty bucket is
 * no state.
 */
export function leakyBucketRefund (
  state: LeakyBucketState | undefined,
  now: number,
  cost: number,
  params: AlgorithmParams
): RefundResult<LeakyBucketState> {
  // no state is an empty bucket: nothing to give back
  if (state === undefined) return { state: undefined, ttlMs: 0 }
  // a clock behind the stored one counts as the stored time, as in consume
  const { l: level, f, t } = leaked(state, now, params)
  const l = level - cost
  // below one whole unit with a fraction left is still below empty: l + f / W < 0
  if (l < 0 || (l === 0 && f === 0)) return { state: undefined, ttlMs: 0 }
  return { state: { l, f, t }, ttlMs: t - now + msToLeak(l, f, params.limit, params.windowMs) }
}

/**
 * The Lua twin of `leaked`, which the refund and charge twins begin with (the consume step keeps
 * its own steps inline: every consume script would make this closure for nothing); it uses the
 * consume twin's `lbLeak`.
 */
const leakedLua = `
local function lbLeaked (s, now, p)
  local limit, windowMs = p.limit, p.windowMs
  if s == nil then return now, 0, 0 end
  local at = max(now, s[3])
  local elapsed = at - s[3]
  if elapsed >= lbLeak(s[1], s[2], limit, windowMs) then return at, 0, 0 end
  local left = s[2] - fmod(elapsed, windowMs) * limit
  local borrow = floor(left / windowMs)
  return at, s[1] - floor(elapsed / windowMs) * limit + borrow, left - borrow * windowMs
end
`

/**
 * The Lua twin of `leakyBucketRefund` (see `Algorithm.refundLua`), after `leakedLua`; it runs
 * after the consume twin's chunk, whose `lbLeak` it uses.
 */
const refundLua = leakedLua + `
refunds.lb = function (s, now, cost, p)
  local limit, windowMs = p.limit, p.windowMs
  if s == nil then return nil, 0 end
  local at, l, f = lbLeaked(s, now, p)
  l = l - cost
  if l < 0 or (l == 0 and f == 0) then return nil, 0 end
  return { l, f, at }, at - now + lbLeak(l, f, limit, windowMs)
end
`

/**
 * Pours `cost` units into the bucket at `now` whatever it holds (see `Algorithm.charge`): past
 * `burst` it is in debt, which leaks away at L per W before any request passes again.
 * Saturates at a level of `maxHeld(params)`, with no fraction.
 */
export function leakyBucketCharge (
  state: LeakyBucketState | undefined,
  now: number,
  cost: number,
  params: AlgorithmParams
): ChargeResult<LeakyBucketState> {
  const { l, f, t } = leaked(state, now, params)
  const most = maxHeld(params)
  // level + cost > most, with the level rounded up since both are whole; l + cost past 2^53
  // rounds, but only upward: it still reads as past the bound
  const charged = l + (f > 0 ? 1 : 0) + cost > most ? { l: most, f: 0, t } : { l: l + cost, f, t }
  return { state: charged, ttlMs: t - now + msToLeak(charged.l, charged.f, params.limit, params.windowMs) }
}

/** The Lua twin of `leakyBucketCharge` (see `Algorithm.chargeLua`), after `leakedLua`. */
const chargeLua = leakedLua + `
charges.lb = function (s, now, cost, p)
  local limit, windowMs = p.limit, p.windowMs
  local at, l, f = lbLeaked(s, now, p)
  local most = maxHeld(p)
  local up = 0
  if f > 0 then up = 1 end
  if l + up + cost > most then
    l, f = most, 0
  else
    l = l + cost
  end
  return { l, f, at }, at - now + lbLeak(l, f, limit, windowMs)
end
`

export const leakyBucketAlgorithm: Algorithm<LeakyBucketState> = {
  name: 'leaky-bucket',
  code: 'lb',
  usesBurst: true,
  fields: ['l', 'f', 't'],
  lua,
  refundLua,
  chargeLua,
  consume: leakyBucket,
  refund: leakyBucketRefund,
  charge: leakyBucketCharge
}
