import type { Algorithm, AlgorithmParams, AlgorithmResult, ChargeResult, RefundResult } from '../lib/core/algorithm.js'
import { maxHeld } from './debt.js'

/** State: the current window index, its count and the previous window's count. */
export interface SlidingWindowState {
  w: number
  c: number
  p: number
}

/**
 * Sliding window (Cloudflare's two-counter approximation): the previous window's count is
 * weighted by the part of it still inside the sliding window,
 * `prev * (W - elapsed) / W + curr + cost <= L`.
 *
 * The comparison is done multiplied by W, in integers, so that decisions and `retryAfterMs`
 * are exact (no floating-point rounding); the plugin keeps `4 * L * W` below 2^53.
 */
export function slidingWindow (
  state: SlidingWindowState | undefined,
  now: number,
  cost: number,
  { limit, windowMs }: AlgorithmParams
): AlgorithmResult<SlidingWindowState> {
  // A clock behind the stored window decides as at that window's start (the earliest instant
  // the stored counts describe); the waits it returns stay relative to the real `now`.
  const at = state !== undefined && state.w * windowMs > now ? state.w * windowMs : now
  const w = Math.floor(at / windowMs)
  const elapsed = at - w * windowMs
  let curr = 0
  let prev = 0
  if (state !== undefined) {
    if (state.w === w) {
      curr = state.c
      prev = state.p
    } else if (state.w === w - 1) {
      prev = state.c
    }
  }
  const capacity = limit * windowMs
  const used = prev * (windowMs - elapsed) + curr * windowMs
  if (used + cost * windowMs <= capacity) {
    return {
      state: { w, c: curr + cost, p: prev },
      decision: {
        allowed: true,
        limit,
        remaining: Math.floor((capacity - used - cost * windowMs) / windowMs),
        resetMs: (w + 2) * windowMs,
        retryAfterMs: 0
      },
      ttlMs: (w + 2) * windowMs - now
    }
  }
  const resetMs = curr > 0 ? (w + 2) * windowMs : (w + 1) * windowMs
  // When the request fits, as an offset into this window: later in it, where only the weight of
  // `prev` shrinks, or else in the next one, where `curr` becomes the previous count and the new
  // count is 0 (firstFit may answer W there: the start of the window after, both counts 0).
  const inCurrent = firstFit(prev, limit - curr - cost, windowMs)
  const fitsAt = inCurrent < windowMs ? Math.max(inCurrent, elapsed) : windowMs + firstFit(curr, limit - cost, windowMs)
  return {
    state: { w, c: curr, p: prev },
    decision: {
      allowed: false,
      limit,
      remaining: Math.max(0, Math.floor((capacity - used) / windowMs)),
      resetMs,
      retryAfterMs: fitsAt - elapsed + at - now
    },
    ttlMs: resetMs - now
  }
}

/**
 * The first instant at which `prevCount * (W - e) <= room * W` holds, as an offset `e` into
 * a window, or `W` when it never holds inside it.
 */
function firstFit (prevCount: number, room: number, windowMs: number): number {
  if (room < 0) return windowMs
  if (prevCount === 0) return 0
  return Math.max(0, windowMs - Math.floor(room * windowMs / prevCount))
}

/** The Lua twin of `slidingWindow`, line by line (see `Algorithm.lua`); state: w, c, p. */
const lua = `
local function firstFit (prevCount, room, windowMs)
  if room < 0 then return windowMs end
  if prevCount == 0 then return 0 end
  return max(0, windowMs - floor(room * windowMs / prevCount))
end

steps.sw = function (s, now, cost, p)
  local limit, windowMs = p.limit, p.windowMs
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
  local inCurrent = firstFit(prev, limit - curr - cost, windowMs)
  local fitsAt
  if inCurrent < windowMs then
    fitsAt = max(inCurrent, elapsed)
  else
    fitsAt = windowMs + firstFit(curr, limit - cost, windowMs)
  end
  return false, max(0, floor((capacity - used) / windowMs)), resetMs, fitsAt - elapsed + at - now
end
`

/**
 * Gives `cost` units back at `now`, the newest first: those counted in the window of `now`,
 * then those of the previous window (never below 0). Units of an older window count no more.
 */
export function slidingWindowRefund (
  state: SlidingWindowState | undefined,
  now: number,
  cost: number,
  { windowMs }: AlgorithmParams
): RefundResult<SlidingWindowState> {
  if (state === undefined) return { state: undefined, ttlMs: 0 }
  // a clock behind the stored window refunds in that window, as consume counts in it
  const { w, c, p } = rolled(state, now, windowMs)
  const fromCurrent = Math.min(c, cost)
  const curr = c - fromCurrent
  const prev = Math.max(0, p - (cost - fromCurrent))
  if (curr === 0 && prev === 0) return { state: undefined, ttlMs: 0 }
  return { state: { w, c: curr, p: prev }, ttlMs: (w + 2) * windowMs - now }
}

/**
 * The Lua twin of `rolled`, which the refund and charge twins begin with (the consume step keeps
 * its own steps inline: every consume script would make this closure for nothing).
 */
const rolledLua = `
local function swRolled (s, now, windowMs)
  local w = max(s[1], floor(now / windowMs))
  if s[1] == w then return w, s[2], s[3] end
  if s[1] == w - 1 then return w, 0, s[2] end
  return w, 0, 0
end
`

/** The Lua twin of `slidingWindowRefund` (see `Algorithm.refundLua`), after `rolledLua`. */
const refundLua = rolledLua + `
refunds.sw = function (s, now, cost, p)
  local windowMs = p.windowMs
  if s == nil then return nil, 0 end
  local w, curr, prev = swRolled(s, now, windowMs)
  local fromCurrent = math.min(curr, cost)
  curr = curr - fromCurrent
  prev = max(0, prev - (cost - fromCurrent))
  if curr == 0 and prev == 0 then return nil, 0 end
  return { w, curr, prev }, (w + 2) * windowMs - now
end
`

/**
 * `state` as seen from the window of `now`, or from its own window on a clock behind it: the
 * count of that window and of the one before (a count two windows old counts no more).
 */
function rolled (state: SlidingWindowState, now: number, windowMs: number): SlidingWindowState {
  const w = Math.max(state.w, Math.floor(now / windowMs))
  if (state.w === w) return state
  return { w, c: 0, p: state.w === w - 1 ? state.c : 0 }
}

/**
 * Charges `cost` units to the window of `now` whatever it holds (see `Algorithm.charge`): a
 * count past L denies in its window and, weighted down, through the next one, after which it
 * counts no more, debt included. Saturates at `maxHeld(params)`.
 */
export function slidingWindowCharge (
  state: SlidingWindowState | undefined,
  now: number,
  cost: number,
  params: AlgorithmParams
): ChargeResult<SlidingWindowState> {
  const { windowMs } = params
  const { w, c, p } = state === undefined ? { w: Math.floor(now / windowMs), c: 0, p: 0 } : rolled(state, now, windowMs)
  return { state: { w, c: Math.min(c + cost, maxHeld(params)), p }, ttlMs: (w + 2) * windowMs - now }
}

/** The Lua twin of `slidingWindowCharge` (see `Algorithm.chargeLua`), after `rolledLua`. */
const chargeLua = rolledLua + `
charges.sw = function (s, now, cost, p)
  local windowMs = p.windowMs
  local w, curr, prev = floor(now / windowMs), 0, 0
  if s then w, curr, prev = swRolled(s, now, windowMs) end
  return { w, math.min(curr + cost, maxHeld(p)), prev }, (w + 2) * windowMs - now
end
`

export const slidingWindowAlgorithm: Algorithm<SlidingWindowState> = {
  name: 'sliding-window',
  code: 'sw',
  usesBurst: false,
  fields: ['w', 'c', 'p'],
  lua,
  refundLua,
  chargeLua,
  consume: slidingWindow,
  refund: slidingWindowRefund,
  charge: slidingWindowCharge
}
