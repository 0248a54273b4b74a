import type { AlgorithmParams } from '../lib/core/algorithm.js'

/**
 * The bound on debt. A charge (`Algorithm.charge`: a cost settled after the response, above
 * what was charged on arrival) may take a bucket past its capacity; it saturates where its
 * numbers would stop being exact integers, and nowhere sooner:
 *
 * - a bucket never holds more than `maxHeld(params)` units (its capacity and its debt
 *   together: a window's count, a log's sum, a bucket's missing tokens, level, or TAT ahead of
 *   now in units), that is at most `2^52 / W`;
 * - so a bucket in debt is full again at most `held * W / L <= 2^52` ms from now, and every
 *   time it reports (`resetMs`, `retryAfterMs`, its ttl) stays below 2^53 until the year 144,000;
 *   the sliding window's products of a count by W stay at most 2^52 each (their sum at most
 *   2^53), and every count is a safe integer;
 * - and since the plugin keeps `burst * W <= MAX_RATE_PRODUCT` (about 2^51), `maxHeld` is at
 *   least twice the capacity: any bucket can owe at least its whole capacity once more. For a
 *   limit per minute it is 75 billion units, per day 52 million.
 *
 * Plain doubles and `floor`, so the Lua twin (`debtLua`) computes the same number.
 */

/** Units held times the window (ms) never exceed it: 2^52. */
export const MAX_HELD_PRODUCT = 2 ** 52

/**
 * The most units a bucket of `params` may hold, its capacity (`burst`) included: a charge
 * past it charges up to it. Never less than the capacity.
 */
export function maxHeld ({ windowMs, burst }: AlgorithmParams): number {
  return Math.max(burst, Math.floor(MAX_HELD_PRODUCT / windowMs))
}

/**
 * The most units a bucket of `params` may owe past its capacity: what a settled cost above the
 * estimate can add at most to a bucket that is empty (a bucket at its bound is charged nothing).
 */
export function maxDebt (params: AlgorithmParams): number {
  return maxHeld(params) - params.burst
}

/** The Lua twin of `maxHeld`, a local of every charge script, which the charge twins call. */
export const debtLua = `
local function maxHeld (p)
  return max(p.burst, floor(${MAX_HELD_PRODUCT} / p.windowMs))
end
`
