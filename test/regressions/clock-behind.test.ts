// Regression: fixed-window and sliding-window treated a request whose clock is behind the
// stored window as a new, empty window and overwrote the stored count, letting more than L
// through (several processes on one SQLite file, several app servers).
import t from 'tap'
import { fixedWindow, slidingWindow } from '../../algorithms/index.js'
import type { AlgorithmParams, AlgorithmResult } from '../../algorithms/index.js'

type Consume<S> = (state: S | undefined, now: number, cost: number, params: AlgorithmParams) => AlgorithmResult<S>

/** Runs requests like a store does (state written only when allowed); returns the allowed times. */
function run<S> (consume: Consume<S>, params: AlgorithmParams, times: number[]): number[] {
  let state: S | undefined
  const allowed: number[] = []
  for (const now of times) {
    const result = consume(state, now, 1, params)
    if (result.decision.allowed) {
      state = result.state
      allowed.push(now)
    }
  }
  return allowed
}

t.test('fixed window: a late clock counts in the stored window', async (t) => {
  const params = { limit: 2, windowMs: 1000, burst: 2 }
  // window [1000, 2000) is full; a request stamped 999 by a slower clock arrives, then more at 1500
  const allowed = run(fixedWindow, params, [1000, 1001, 999, 1500])
  t.same(allowed, [1000, 1001], 'at most 2 were counted in the window that holds them')
  const behind = fixedWindow({ w: 1, c: 2 }, 999, 1, params)
  t.equal(behind.decision.allowed, false)
  t.equal(behind.decision.retryAfterMs, 1001, 'until the stored window ends, from the late clock')
  t.equal(fixedWindow({ w: 1, c: 2 }, 999 + 1001, 1, params).decision.allowed, true)
})

t.test('sliding window: a late clock decides as at the stored window start', async (t) => {
  const params = { limit: 1, windowMs: 1000, burst: 1 }
  const allowed = run(slidingWindow, params, [1500, 999, 1999])
  t.same(allowed, [1500], 'no second request inside one window of 1 per second')
  const state = { w: 1, c: 1, p: 0 }
  const behind = slidingWindow(state, 999, 1, params)
  t.equal(behind.decision.allowed, false)
  // from the late clock: wait until 2000, where the stored count becomes the previous one, plus
  // until its weight has fallen enough: prev * (W - e) <= 0 only at e = W, so 3000
  t.equal(behind.decision.retryAfterMs, 3000 - 999)
  t.equal(slidingWindow(state, 2999, 1, params).decision.allowed, false)
  t.equal(slidingWindow(state, 3000, 1, params).decision.allowed, true)
})
