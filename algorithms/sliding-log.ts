import type { Algorithm, AlgorithmParams, AlgorithmResult } from '../lib/core/algorithm.js'

/**
 * State: the requests of the last W, oldest first: request `i` came at `t + d[i]` (epoch ms)
 * and cost `c[i]`. Requests of the same millisecond share one entry; offsets from the oldest
 * keep the JSON small.
 */
export interface SlidingLogState {
  t: number
  d: number[]
  c: number[]
}

/**
 * Sliding log: remembers every request of the last W and allows one while the cost of those
 * in `(now - W, now]` plus its own is at most L. Exact: no interval of length W ever holds more
 * than L. The state grows with the traffic, up to `min(L, W)` entries.
 */
export function slidingLog (
  state: SlidingLogState | undefined,
  now: number,
  cost: number,
  { limit, windowMs }: AlgorithmParams
): AlgorithmResult<SlidingLogState> {
  const times: number[] = []
  const costs: number[] = []
  let used = 0
  if (state !== undefined) {
    for (let i = 0; i < state.d.length; i++) {
      const at = state.t + state.d[i]
      if (at > now - windowMs) {
        times.push(at)
        costs.push(state.c[i])
        used += state.c[i]
      }
    }
  }
  const allowed = used + cost <= limit
  if (allowed) {
    const last = times.length - 1
    // A clock behind the newest entry (another process, another server) counts as its time.
    if (last >= 0 && times[last] >= now) {
      costs[last] += cost
    } else {
      times.push(now)
      costs.push(cost)
    }
  }
  // everything has left the log W after the newest entry
  const resetMs = times[times.length - 1] + windowMs
  return {
    state: { t: times[0], d: times.map((at) => at - times[0]), c: costs },
    decision: {
      allowed,
      limit,
      remaining: limit - used - (allowed ? cost : 0),
      resetMs,
      retryAfterMs: allowed ? 0 : retryAfter(times, costs, used, now, cost, limit, windowMs)
    },
    ttlMs: resetMs - now
  }
}

/** The request fits once enough of the oldest entries have left the log, W after each one. */
function retryAfter (
  times: number[], costs: number[], used: number, now: number,
  cost: number, limit: number, windowMs: number
): number {
  let i = 0
  let left = used - costs[0]
  // cost <= limit, so the loop ends at the latest when the log is empty
  while (left + cost > limit) {
    i++
    left -= costs[i]
  }
  return times[i] + windowMs - now
}

export const slidingLogAlgorithm: Algorithm<SlidingLogState> = {
  name: 'sliding-log',
  code: 'sl',
  usesBurst: false,
  consume: slidingLog
}
