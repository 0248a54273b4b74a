import type { Algorithm, AlgorithmParams, AlgorithmResult, RefundResult } from '../lib/core/algorithm.js'
import { ceilMulDiv } from './rational.js'

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
 * is allowed while `tokens >= cost`. No state is a full bucket.
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
      remaining: n,
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
  return false, n, resetMs, at + tbUntil(cost - n, f, limit, windowMs) - now
end
`

/**
 * Gives `cost` tokens back at `now`, never above `burst`: a bucket full again is no state.
 */
export function tokenBucketRefund (
  state: TokenBucketState | undefined,
  now: number,
  cost: number,
  { limit, windowMs, burst }: AlgorithmParams
): RefundResult<TokenBucketState> {
  // no state is a full bucket: nothing to give back
  if (state === undefined) return { state: undefined, ttlMs: 0 }
  // a clock behind the stored one counts as the stored time, as in consume
  const at = Math.max(now, state.t)
  const elapsed = at - state.t
  if (elapsed >= msUntil(burst - state.n, state.f, limit, windowMs)) return { state: undefined, ttlMs: 0 }
  const part = state.f + (elapsed % windowMs) * limit
  const n = state.n + Math.floor(elapsed / windowMs) * limit + Math.floor(part / windowMs) + cost
  if (n >= burst) return { state: undefined, ttlMs: 0 }
  const f = part % windowMs
  return { state: { n, f, t: at }, ttlMs: at - now + msUntil(burst - n, f, limit, windowMs) }
}

/**
 * The Lua twin of `tokenBucketRefund` (see `Algorithm.refundLua`); it runs after the consume
 * twin's chunk, whose `tbUntil` it uses.
 */
const refundLua = `
refunds.tb = function (s, now, cost, p)
  local limit, windowMs, burst = p.limit, p.windowMs, p.burst
  if s == nil then return nil, 0 end
  local at = max(now, s[3])
  local elapsed = at - s[3]
  if elapsed >= tbUntil(burst - s[1], s[2], limit, windowMs) then return nil, 0 end
  local part = s[2] + fmod(elapsed, windowMs) * limit
  local n = s[1] + floor(elapsed / windowMs) * limit + floor(part / windowMs) + cost
  if n >= burst then return nil, 0 end
  local f = fmod(part, windowMs)
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
  consume: tokenBucket,
  refund: tokenBucketRefund
}
