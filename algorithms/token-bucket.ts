import type { Algorithm, AlgorithmParams, AlgorithmResult, ChargeResult, RefundResult } from '../lib/core/algorithm.js'
import { ceilMulDiv } from './rational.js'
import { maxHeld } from './debt.js'

/**
 * State: `n + f / W` tokens at time `t` (epoch ms), with `0 <= f < W`. The fraction is kept as
 * an integer numerator over W because L / W tokens per millisecond is rarely a whole number.
 */
export interface TokenBucketState {
  n: number
  f: number
  t: number
}

/**
 * Token bucket: holds up to `burst` tokens (default L) and gains L tokens per W; a request
 * is allowed while `tokens >= cost`. No state is a full bucket. A bucket in debt (charged past
 * empty, see `tokenBucketCharge`) holds fewer than 0 tokens, and gains them back the same way.
 */
export function tokenBucket (
  state: TokenBucketState | undefined,
  now: number,
  cost: number,
  { limit, windowMs, burst }: AlgorithmParams
): AlgorithmResult<TokenBucketState> {
  let at = now
  let n = burst
  let f = 0
  if (state !== undefined) {
    // A clock behind the stored one (another process, another server) counts as the stored time.
    at = Math.max(now, state.t)
    const elapsed = at - state.t
    if (elapsed < msUntil(burst - state.n, state.f, limit, windowMs)) {
      const gained = state.f + (elapsed % windowMs) * limit
      n = state.n + Math.floor(elapsed / windowMs) * limit + Math.floor(gained / windowMs)
      f = gained % windowMs
    }
  }
  const allowed = n >= cost
  if (allowed) n -= cost
  const resetMs = at + msUntil(burst - n, f, limit, windowMs)
  return {
    state: { n, f, t: at },
    decision: {
      allowed,
      limit,
      // a bucket in debt holds fewer than 0 tokens: none remains
      remaining: Math.max(0, n),
      resetMs,
      retryAfterMs: allowed ? 0 : at + msUntil(cost - n, f, limit, windowMs) - now
    },
    ttlMs: resetMs - now
  }
}

/**
 * Milliseconds until a bucket holding `n + f / W` tokens holds `n + missing`: tokens counted in
 * units of 1 / W arrive L per ms, so it is `ceil((missing * W - f) / L)`.
 */
function msUntil (missing: number, f: number, limit: number, windowMs: number): number {
  return ceilMulDiv(missing, windowMs, limit, -f)
}

/** The Lua twin of `tokenBucket`, line by line (see `Algorithm.lua`); state: n, f, t. */
const lua = `
local function tbUntil (missing, f, limit, windowMs)
  return ceilMulDiv(missing, windowMs, limit, -f)
end

steps.tb = function (s, now, cost, p)
  local limit, windowMs, burst = p.limit, p.windowMs, p.burst
  local at, n, f = now, burst, 0
  if s then
    -- a clock behind the stored one counts as the stored time
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
  return false, max(0, n), resetMs, at + tbUntil(cost - n, f, limit, windowMs) - now
end
`

/**
 * The bucket at `now` (or at its own time, on a clock behind it), refilled: a new state, full
 * when there was none or it has filled up since. (`consume` keeps the same steps inline: its
 * hot path stays as it was measured.)
 */
function refilled (state: TokenBucketState | undefined, now: number, { limit, windowMs, burst }: AlgorithmParams): TokenBucketState {
  if (state === undefined) return { n: burst, f: 0, t: now }
  const at = Math.max(now, state.t)
  const elapsed = at - state.t
  if (elapsed >= msUntil(burst - state.n, state.f, limit, windowMs)) return { n: burst, f: 0, t: at }
  const gained = state.f + (elapsed % windowMs) * limit
  return { n: state.n + Math.floor(elapsed / windowMs) * limit + Math.floor(gained / windowMs), f: gained % windowMs, t: at }
}

/**
 * Gives `cost` tokens back at `now`, never above `burst`: a bucket full again is no state.
 */
export function tokenBucketRefund (
  state: TokenBucketState | undefined,
  now: number,
  cost: number,
  params: AlgorithmParams
): RefundResult<TokenBucketState> {
  // no state is a full bucket: nothing to give back
  if (state === undefined) return { state: undefined, ttlMs: 0 }
  // a clock behind the stored one counts as the stored time, as in consume
  const { n, f, t } = refilled(state, now, params)
  const back = n + cost
  if (back >= params.burst) return { state: undefined, ttlMs: 0 }
  return { state: { n: back, f, t }, ttlMs: t - now + msUntil(params.burst - back, f, params.limit, params.windowMs) }
}

/**
 * The Lua twin of `refilled`, which the refund and charge twins begin with (the consume step keeps
 * its own steps inline: every consume script would make this closure for nothing); it uses the
 * consume twin's `tbUntil`.
 */
const refilledLua = `
local function tbRefilled (s, now, p)
  local limit, windowMs, burst = p.limit, p.windowMs, p.burst
  if s == nil then return now, burst, 0 end
  local at = max(now, s[3])
  local elapsed = at - s[3]
  if elapsed >= tbUntil(burst - s[1], s[2], limit, windowMs) then return at, burst, 0 end
  local gained = s[2] + fmod(elapsed, windowMs) * limit
  return at, s[1] + floor(elapsed / windowMs) * limit + floor(gained / windowMs), fmod(gained, windowMs)
end
`

/**
 * The Lua twin of `tokenBucketRefund` (see `Algorithm.refundLua`), after `refilledLua`; it runs
 * after the consume twin's chunk, whose `tbUntil` it uses.
 */
const refundLua = refilledLua + `
refunds.tb = function (s, now, cost, p)
  local limit, windowMs, burst = p.limit, p.windowMs, p.burst
  if s == nil then return nil, 0 end
  local at, n, f = tbRefilled(s, now, p)
  n = n + cost
  if n >= burst then return nil, 0 end
  return { n, f, at }, at - now + tbUntil(burst - n, f, limit, windowMs)
end
`

/**
 * Takes `cost` tokens at `now` whatever the bucket holds (see `Algorithm.charge`): past empty
 * it holds fewer than 0, a debt the refill pays back at L per W before any request passes
 * again. Saturates at `burst - maxHeld(params)` tokens, with no fraction.
 */
export function tokenBucketCharge (
  state: TokenBucketState | undefined,
  now: number,
  cost: number,
  params: AlgorithmParams
): ChargeResult<TokenBucketState> {
  const { limit, windowMs, burst } = params
  const { n, f, t } = refilled(state, now, params)
  const least = burst - maxHeld(params)
  // n - cost past -2^53 rounds, but only downward: it still reads as past the bound
  const charged = n - cost < least ? { n: least, f: 0, t } : { n: n - cost, f, t }
  return { state: charged, ttlMs: t - now + msUntil(burst - charged.n, charged.f, limit, windowMs) }
}

/** The Lua twin of `tokenBucketCharge` (see `Algorithm.chargeLua`), after `refilledLua`. */
const chargeLua = refilledLua + `
charges.tb = function (s, now, cost, p)
  local limit, windowMs, burst = p.limit, p.windowMs, p.burst
  local at, n, f = tbRefilled(s, now, p)
  local least = burst - maxHeld(p)
  if n - cost < least then
    n, f = least, 0
  else
    n = n - cost
  end
  return { n, f, at }, at - now + tbUntil(burst - n, f, limit, windowMs)
end
`

export const tokenBucketAlgorithm: Algorithm<TokenBucketState> = {
  name: 'token-bucket',
  code: 'tb',
  usesBurst: true,
  fields: ['n', 'f', 't'],
  lua,
  refundLua,
  chargeLua,
  consume: tokenBucket,
  refund: tokenBucketRefund,
  charge: tokenBucketCharge
}
