import type { Algorithm, AlgorithmParams, AlgorithmResult, BanRule, ChargeResult, RefundResult } from '../lib/core/algorithm.js'

/**
 * Bans with backoff (the `ban` option): the state of one identity on one route, and the two
 * pure steps the stores run on it.
 *
 * - The gate (`banGateAlgorithm`, `gate: true`) rides in the request's `consume` as one more
 *   bucket, first: it denies while the identity is banned and otherwise allows WITHOUT writing
 *   anything (the stores skip the gate's write), so a clean identity never has a ban key.
 * - The strike (`banStrike`), called by the plugin after a rate bucket denied a request, counts
 *   the denial and starts a ban at the `after`-th one within one window of the rate that denied.
 *   With `extend` (`rule.extend`), the plugin strikes a banned request too, and that strike
 *   starts the ban again (`banRestart`).
 *
 * Every field is an integer and every step uses `floor` only, so the Lua twins (`banGateLua`,
 * `banStrikeLua`) decide bit for bit as these functions (test/stores/redis/ban-agreement.test.ts).
 */

/** The ban state of one identity on one route (or group). */
export interface BanState {
  /** Epoch ms the current (or last) ban ends; 0 when there was none since the level was forgotten. */
  u: number
  /** Bans so far (the next ban lasts `for * backoff^l`, up to `max`). */
  l: number
  /** Denials counted since `s` toward the next ban; 0 right after a ban started. */
  k: number
  /** Start of the strike window (the first counted denial). */
  s: number
  /**
   * When the level is forgotten: the last ban's end plus its length (a client that offends again
   * within as long as its last ban lasted gets the longer ban); 0 when there is no level.
   */
  f: number
  /** When the whole state is equivalent to none (the later of `f` and the strike window's end). */
  e: number
}

/** What `banStrike` returns: the state to write (always written) and whether a ban started. */
export interface BanStrikeResult {
  /** The state to store, for `ttlMs` from `now`; undefined when nothing is written (banned already, without `extend`). */
  state: BanState | undefined
  ttlMs: number
  /** Epoch ms the ban ends; a value `<= now` means the identity is not banned. */
  until: number
  /** True when this strike started the ban (the plugin calls `onBan` once, for it); never for a restart (`extend`). */
  started: boolean
}

/**
 * The length of ban number `level + 1` (level 0: the first): `for`, multiplied by `backoff`
 * (in thousandths, `backoffMilli`) once per earlier ban, floored at each step, never above
 * `max`. Stops as soon as the length no longer grows, so it loops at most until `max`.
 */
export function banDuration (level: number, { forMs, backoffMilli, maxMs }: BanRule): number {
  let d = Math.min(forMs, maxMs)
  for (let i = 0; i < level; i++) {
    const next = Math.min(maxMs, Math.floor(d * backoffMilli / 1000))
    if (next <= d) break
    d = next
  }
  return d
}

/**
 * Counts one denial of the identity at `now` (the window of the rate that denied is
 * `rule.windowMs`). While banned (`now < until`), nothing changes, unless `rule.extend`: then the
 * ban starts again (`banRestart`). Otherwise the level is forgotten when its time has come, the
 * strike is counted (a new strike window when the last one has run out), and at the `after`-th
 * strike a ban of `banDuration(level)` starts.
 */
export function banStrike (state: BanState | undefined, now: number, rule: BanRule): BanStrikeResult {
  if (state !== undefined && now < state.u) {
    return rule.extend === true ? banRestart(state, now, rule) : { state: undefined, ttlMs: 0, until: state.u, started: false }
  }
  const { after, windowMs } = rule
  // forgiven: the level (and the last ban) count no more
  const keepLevel = state !== undefined && state.l > 0 && now < state.f
  const level = keepLevel ? (state as BanState).l : 0
  const lastUntil = keepLevel ? (state as BanState).u : 0
  const forget = keepLevel ? (state as BanState).f : 0
  const fresh = state === undefined || state.k === 0 || now - state.s >= windowMs
  const strikes = fresh ? 1 : (state as BanState).k + 1
  const since = fresh ? now : (state as BanState).s
  if (strikes >= after) {
    const until = now + banDuration(level, rule)
    // forgotten once the ban is over for as long again as it lasted
    const f = until + (until - now)
    return { state: { u: until, l: level + 1, k: 0, s: now, f, e: f }, ttlMs: f - now, until, started: true }
  }
  // kept for the longest window that may strike next, not the one that struck: a denial by a
  // longer window of the identity still counts this strike (memory, SQLite and Redis drop the
  // state at e, so an earlier e would forget what the pure step counts)
  const e = Math.max(forget, since + Math.max(windowMs, rule.longestWindowMs ?? windowMs))
  return { state: { u: lastUntil, l: level, k: strikes, s: since, f: forget, e }, ttlMs: Math.max(1, e - now), until: lastUntil, started: false }
}

/**
 * A strike during a ban, with `extend`: the ban starts again at `now`, as long as a ban of its
 * level (`banDuration(l - 1)`: the level does not advance, backoff counts bans, not requests),
 * and never ends sooner than it did (a shorter `for` since, or a clock behind). It is still the
 * same ban: not `started`, so `onBan` is not called again. Its level is forgotten as long after
 * its new end as one ban of its level lasts.
 */
function banRestart (state: BanState, now: number, rule: BanRule): BanStrikeResult {
  const length = banDuration(state.l - 1, rule)
  const until = Math.max(state.u, now + length)
  const f = Math.max(state.f, until + length)
  return { state: { u: until, l: state.l, k: 0, s: state.s, f, e: f }, ttlMs: f - now, until, started: false }
}

/**
 * The Lua twin of `banStrike`, `banRestart` and `banDuration`, line by line; state: u, l, k, s,
 * f, e; `extend` is 1 or 0; `longestMs` is `rule.longestWindowMs` (the caller passes `windowMs`
 * when it is absent).
 */
export const banStrikeLua = `
local function banDuration (level, forMs, backoffMilli, maxMs)
  local d = forMs
  if maxMs < d then d = maxMs end
  for i = 1, level do
    local nxt = floor(d * backoffMilli / 1000)
    if maxMs < nxt then nxt = maxMs end
    if nxt <= d then break end
    d = nxt
  end
  return d
end

local function banRestart (s, now, forMs, backoffMilli, maxMs)
  local d = banDuration(s[2] - 1, forMs, backoffMilli, maxMs)
  local u = max(s[1], now + d)
  local f = max(s[5], u + d)
  return { u, s[2], 0, s[4], f, f }, f - now, u, 0
end

local function banStrike (s, now, after, forMs, backoffMilli, maxMs, windowMs, extend, longestMs)
  if s and now < s[1] then
    if extend == 1 then return banRestart(s, now, forMs, backoffMilli, maxMs) end
    return nil, 0, s[1], 0
  end
  local keep = s ~= nil and s[2] > 0 and now < s[5]
  local level, lastUntil, forget = 0, 0, 0
  if keep then level, lastUntil, forget = s[2], s[1], s[5] end
  local fresh = s == nil or s[3] == 0 or now - s[4] >= windowMs
  local strikes, since = 1, now
  if not fresh then strikes, since = s[3] + 1, s[4] end
  if strikes >= after then
    local u = now + banDuration(level, forMs, backoffMilli, maxMs)
    local f = u + (u - now)
    return { u, level + 1, 0, now, f, f }, f - now, u, 1
  end
  local e = max(forget, since + max(windowMs, longestMs))
  return { lastUntil, level, strikes, since, forget, e }, max(1, e - now), lastUntil, 0
end
`

/**
 * The gate step: denies while banned (`now < until`), retrying when the ban ends; allows
 * otherwise. Its state is never written by `consume` (the stores skip a gate's write), so what
 * it returns as `state` is the one it read. An allowing gate reports the largest `remaining`,
 * so that it never is the bucket a decision describes unless it denies.
 */
export function banGate (state: BanState | undefined, now: number, _cost: number, { limit }: AlgorithmParams): AlgorithmResult<BanState | undefined> {
  if (state !== undefined && now < state.u) {
    return { state, decision: { allowed: false, limit, remaining: 0, resetMs: state.u, retryAfterMs: state.u - now }, ttlMs: Math.max(1, state.e - now) }
  }
  return { state, decision: { allowed: true, limit, remaining: Number.MAX_SAFE_INTEGER, resetMs: now, retryAfterMs: 0 }, ttlMs: 1 }
}

/** The gate gives nothing back: the state stays as it is (the plugin never refunds a gate). */
function banGateRefund (state: BanState | undefined, now: number): RefundResult<BanState> {
  if (state === undefined || state.e <= now) return { state: undefined, ttlMs: 0 }
  return { state, ttlMs: state.e - now }
}

/**
 * The gate is never charged: the stores skip a gate in `charge` as in `consume`'s writes, and
 * this keeps the state as it is (none stays none) for a caller that does not.
 */
function banGateCharge (state: BanState | undefined, now: number): ChargeResult<BanState | undefined> {
  const kept = banGateRefund(state, now)
  return { state: kept.state, ttlMs: Math.max(1, kept.ttlMs) }
}

/** The Lua twin of `banGate` (see `Algorithm.lua`). */
const lua = `
steps.bn = function (s, now, cost, p)
  if s and now < s[1] then return false, 0, s[1], s[1] - now end
  return true, 9007199254740991, now, 0
end
`

/**
 * No Lua twin of `banGateRefund`: no refund script assembles the gate (the plugin refunds a
 * request's rate buckets only, never its gates), so there is nothing to run it.
 */
const refundLua = ''

/** No Lua twin of `banGateCharge` either: no charge script assembles the gate (the stores skip it). */
const chargeLua = ''

/**
 * The gate of a route with a ban, as an algorithm: what a request's first bucket runs. Not a
 * value of the `algorithm` option (it is internal), so its name is outside that list.
 */
export const banGateAlgorithm: Algorithm<any> = {
  name: 'ban' as Algorithm['name'],
  code: 'bn',
  usesBurst: false,
  gate: true,
  fields: ['u', 'l', 'k', 's', 'f', 'e'],
  lua,
  refundLua,
  chargeLua,
  consume: banGate,
  refund: banGateRefund,
  charge: banGateCharge
}
