import type { Algorithm, AlgorithmParams, AlgorithmResult, ChargeResult, RefundResult } from '../lib/core/algorithm.js'
import { maxHeld } from './debt.js'

/** State: the index of the window (`floor(now / W)`) and the cost counted in it. */
export interface FixedWindowState {
  w: number
  c: number
}

/**
 * Fixed window: windows aligned to multiples of W; allowed while `count + cost <= L`.
 * Cheapest of all, but lets up to 2L through around a window boundary.
 */
export function fixedWindow (
  state: FixedWindowState | undefined,
  now: number,
  cost: number,
  { limit, windowMs }: AlgorithmParams
): AlgorithmResult<FixedWindowState> {
  // A clock behind the stored window (another process, another server) counts in that window:
  // treating it as a new, empty window would let more than L through.
  const w = state !== undefined && state.w > Math.floor(now / windowMs) ? state.w : Math.floor(now / windowMs)
  const count = state !== undefined && state.w === w ? state.c : 0
  const end = (w + 1) * windowMs
  if (count + cost <= limit) {
    return {
      state: { w, c: count + cost },
      decision: { allowed: true, limit, remaining: limit - count - cost, resetMs: end, retryAfterMs: 0 },
      ttlMs: end - now
    }
  }
  return {
    state: { w, c: count },
    // cost <= limit, so the next window always has room (a charge past the limit, its debt,
    // counts in its own window only)
    decision: { allowed: false, limit, remaining: Math.max(0, limit - count), resetMs: end, retryAfterMs: end - now },
    ttlMs: end - now
  }
}

/** The Lua twin of `fixedWindow`, line by line (see `Algorithm.lua`); state: w, c. */
const lua = `
steps.fw = function (s, now, cost, p)
  local limit, windowMs = p.limit, p.windowMs
  -- a clock behind the stored window counts in that window
  local w = floor(now / windowMs)
  if s and s[1] > w then w = s[1] end
  local count = 0
  if s and s[1] == w then count = s[2] end
  local e = (w + 1) * windowMs
  if count + cost <= limit then
    return true, limit - count - cost, e, 0, { w, count + cost }, e - now
  end
  return false, max(0, limit - count), e, e - now
end
`

/**
 * Gives `cost` units back to the window of `now` (never below 0). Units counted in a window
 * that has ended count no more: there is nothing to give back then.
 */
export function fixedWindowRefund (
  state: FixedWindowState | undefined,
  now: number,
  cost: number,
  { windowMs }: AlgorithmParams
): RefundResult<FixedWindowState> {
  // a clock behind the stored window refunds in that window, as consume counts in it
  if (state === undefined || state.w < Math.floor(now / windowMs)) return { state: undefined, ttlMs: 0 }
  const c = Math.max(0, state.c - cost)
  if (c === 0) return { state: undefined, ttlMs: 0 }
  return { state: { w: state.w, c }, ttlMs: (state.w + 1) * windowMs - now }
}

/** The Lua twin of `fixedWindowRefund` (see `Algorithm.refundLua`). */
const refundLua = `
refunds.fw = function (s, now, cost, p)
  local windowMs = p.windowMs
  if s == nil or s[1] < floor(now / windowMs) then return nil, 0 end
  local c = max(0, s[2] - cost)
  if c == 0 then return nil, 0 end
  return { s[1], c }, (s[1] + 1) * windowMs - now
end
`

/**
 * Charges `cost` units to the window of `now` whatever it holds (see `Algorithm.charge`): a
 * count past L denies until the window ends, when the whole count, debt included, counts no
 * more. Saturates at `maxHeld(params)`.
 */
export function fixedWindowCharge (
  state: FixedWindowState | undefined,
  now: number,
  cost: number,
  params: AlgorithmParams
): ChargeResult<FixedWindowState> {
  const { windowMs } = params
  // a clock behind the stored window charges that window, as consume counts in it
  const w = state !== undefined && state.w > Math.floor(now / windowMs) ? state.w : Math.floor(now / windowMs)
  const count = state !== undefined && state.w === w ? state.c : 0
  // count + cost past 2^53 rounds, but only upward: min() still picks the bound
  return { state: { w, c: Math.min(count + cost, maxHeld(params)) }, ttlMs: (w + 1) * windowMs - now }
}

/** The Lua twin of `fixedWindowCharge` (see `Algorithm.chargeLua`). */
const chargeLua = `
charges.fw = function (s, now, cost, p)
  local windowMs = p.windowMs
  local w = floor(now / windowMs)
  if s and s[1] > w then w = s[1] end
  local count = 0
  if s and s[1] == w then count = s[2] end
  return { w, math.min(count + cost, maxHeld(p)) }, (w + 1) * windowMs - now
end
`

export const fixedWindowAlgorithm: Algorithm<FixedWindowState> = {
  name: 'fixed-window',
  code: 'fw',
  usesBurst: false,
  fields: ['w', 'c'],
  lua,
  refundLua,
  chargeLua,
  consume: fixedWindow,
  refund: fixedWindowRefund,
  charge: fixedWindowCharge
}
