import type { Algorithm, AlgorithmParams, AlgorithmResult, ChargeResult, RefundResult } from '../lib/core/algorithm.js'
import { maxHeld } from './debt.js'

/**
 * State: the requests of the last W, oldest first: request `i` came at `t + d[i]` (epoch ms)
 * and cost `c[i]`. Requests of the same millisecond share one entry; offsets from the oldest
 * keep the stored text small.
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
  if (allowed) append(times, costs, now, cost)
  // everything has left the log W after the newest entry
  const resetMs = times[times.length - 1] + windowMs
  return {
    state: logState(times, costs),
    decision: {
      allowed,
      limit,
      // a log in debt (charged past L) holds more than L: none remains
      remaining: allowed ? limit - used - cost : Math.max(0, limit - used),
      resetMs,
      // the request fits once enough of the oldest entries have left the log, W after each one
      retryAfterMs: allowed ? 0 : times[firstToLeave(costs, used + cost - limit)] + windowMs - now
    },
    ttlMs: resetMs - now
  }
}

/** Adds `cost` at `now` to the log's arrays, oldest first. */
function append (times: number[], costs: number[], now: number, cost: number): void {
  const last = times.length - 1
  // A clock behind the newest entry (another process, another server) counts as its time.
  if (last >= 0 && times[last] >= now) {
    costs[last] += cost
  } else {
    times.push(now)
    costs.push(cost)
  }
}

/** The state of a log of `times` and `costs` (at least one entry), oldest first. */
function logState (times: number[], costs: number[]): SlidingLogState {
  return { t: times[0], d: times.map((at) => at - times[0]), c: costs }
}

/**
 * The index of the entry whose leaving frees `over` (at least 1): the entries up to it, oldest
 * first, cost at least that much. `over <= used`, as `cost <= limit`, so there is one.
 */
function firstToLeave (costs: number[], over: number): number {
  let i = 0
  let freed = costs[0]
  while (freed < over) {
    i++
    freed += costs[i]
  }
  return i
}

/**
 * The Lua twin of `slidingLog`, line by line (see `Algorithm.lua`); state: the oldest time,
 * then (offset from it, cost) per entry.
 */
const lua = `
local function firstToLeave (costs, over)
  local i = 1
  local freed = costs[1]
  while freed < over do
    i = i + 1
    freed = freed + costs[i]
  end
  return i
end

steps.sl = function (s, now, cost, p)
  local limit, windowMs = p.limit, p.windowMs
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
  return false, max(0, limit - used), resetMs, times[firstToLeave(costs, used + cost - limit)] + windowMs - now
end
`

/**
 * Gives `cost` units back at `now`, taken from the newest entries of the log first (an entry
 * left with no cost is dropped); never below empty.
 */
export function slidingLogRefund (
  state: SlidingLogState | undefined,
  now: number,
  cost: number,
  { windowMs }: AlgorithmParams
): RefundResult<SlidingLogState> {
  if (state === undefined) return { state: undefined, ttlMs: 0 }
  const { times, costs } = live(state, now, windowMs)
  let owed = cost
  while (owed > 0 && costs.length > 0) {
    const newest = costs.length - 1
    const taken = Math.min(costs[newest], owed)
    costs[newest] -= taken
    owed -= taken
    if (costs[newest] === 0) {
      costs.pop()
      times.pop()
    }
  }
  if (times.length === 0) return { state: undefined, ttlMs: 0 }
  return { state: logState(times, costs), ttlMs: times[times.length - 1] + windowMs - now }
}

/**
 * The Lua twins of `live` and `logState`, which the refund and charge twins begin with (the
 * consume step keeps its own steps inline: every consume script would make these closures for
 * nothing).
 */
const entriesLua = `
local function slLive (s, now, windowMs)
  local times, costs, used = {}, {}, 0
  for i = 2, #s, 2 do
    local at = s[1] + s[i]
    if now - windowMs < at then
      times[#times + 1] = at
      costs[#costs + 1] = s[i + 1]
      used = used + s[i + 1]
    end
  end
  return times, costs, used
end

local function slState (times, costs)
  local state = { times[1] }
  for i = 1, #times do
    state[2 * i] = times[i] - times[1]
    state[2 * i + 1] = costs[i]
  end
  return state
end
`

/** The Lua twin of `slidingLogRefund` (see `Algorithm.refundLua`), after `entriesLua`. */
const refundLua = entriesLua + `
refunds.sl = function (s, now, cost, p)
  local windowMs = p.windowMs
  if s == nil then return nil, 0 end
  local times, costs = slLive(s, now, windowMs)
  local owed = cost
  while owed > 0 and #costs > 0 do
    local newest = #costs
    local taken = math.min(costs[newest], owed)
    costs[newest] = costs[newest] - taken
    owed = owed - taken
    if costs[newest] == 0 then
      costs[newest] = nil
      times[newest] = nil
    end
  end
  if #times == 0 then return nil, 0 end
  return slState(times, costs), times[#times] + windowMs - now
end
`

/** The entries of `state` still in the log at `now` (what consume counts), and their sum. */
function live (state: SlidingLogState, now: number, windowMs: number): { times: number[], costs: number[], used: number } {
  const times: number[] = []
  const costs: number[] = []
  let used = 0
  for (let i = 0; i < state.d.length; i++) {
    const at = state.t + state.d[i]
    if (now - windowMs < at) {
      times.push(at)
      costs.push(state.c[i])
      used += state.c[i]
    }
  }
  return { times, costs, used }
}

/**
 * Charges `cost` units at `now` whatever the log holds (see `Algorithm.charge`): an entry like
 * a request's, so a log past L denies until enough has left it, W after each entry, debt
 * included. Saturates at `maxHeld(params)` units in the log.
 */
export function slidingLogCharge (
  state: SlidingLogState | undefined,
  now: number,
  cost: number,
  params: AlgorithmParams
): ChargeResult<SlidingLogState> {
  const { windowMs } = params
  const { times, costs, used } = state === undefined ? { times: [], costs: [], used: 0 } : live(state, now, windowMs)
  // a log at its bound takes nothing more (and an entry of no cost is none)
  const added = Math.min(cost, maxHeld(params) - used)
  if (added > 0) append(times, costs, now, added)
  return { state: logState(times, costs), ttlMs: times[times.length - 1] + windowMs - now }
}

/** The Lua twin of `slidingLogCharge` (see `Algorithm.chargeLua`), after `entriesLua`. */
const chargeLua = entriesLua + `
charges.sl = function (s, now, cost, p)
  local windowMs = p.windowMs
  local times, costs, used = {}, {}, 0
  if s then times, costs, used = slLive(s, now, windowMs) end
  local added = math.min(cost, maxHeld(p) - used)
  if added > 0 then
    -- append(): onto the newest entry on a clock behind it, else onto a new one at now
    local last = #times
    if last == 0 or times[last] < now then
      last = last + 1
      times[last], costs[last] = now, 0
    end
    costs[last] = costs[last] + added
  end
  return slState(times, costs), times[#times] + windowMs - now
end
`

export const slidingLogAlgorithm: Algorithm<SlidingLogState> = {
  name: 'sliding-log',
  code: 'sl',
  usesBurst: false,
  fields: ['t'],
  entries: ['d', 'c'],
  lua,
  refundLua,
  chargeLua,
  consume: slidingLog,
  refund: slidingLogRefund,
  charge: slidingLogCharge
}
