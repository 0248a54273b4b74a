import type { Algorithm, AlgorithmParams, AlgorithmResult } from '../lib/core/algorithm.js'

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
  return {
    state: { w, c: curr, p: prev },
    decision: {
      allowed: false,
      limit,
      remaining: Math.max(0, Math.floor((capacity - used) / windowMs)),
      resetMs,
      retryAfterMs: retryAfter(prev, curr, elapsed, w * windowMs, at, cost, limit, windowMs) + at - now
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

function retryAfter (
  prev: number, curr: number, elapsed: number, start: number, now: number,
  cost: number, limit: number, windowMs: number
): number {
  // Later in the current window: only the weight of `prev` shrinks.
  const inCurrent = firstFit(prev, limit - curr - cost, windowMs)
  if (inCurrent < windowMs) return Math.max(inCurrent, elapsed) - elapsed
  // In the next window `curr` becomes the previous count and the new count is 0;
  // firstFit may answer W there, which is the start of the window after (both counts 0).
  return start + windowMs + firstFit(curr, limit - cost, windowMs) - now
}

export const slidingWindowAlgorithm: Algorithm<SlidingWindowState> = {
  name: 'sliding-window',
  code: 'sw',
  usesBurst: false,
  consume: slidingWindow
}
