import type { Algorithm, AlgorithmParams, AlgorithmResult, ChargeResult, RefundResult } from '../lib/core/algorithm.js'
import { ceilMulDiv } from './rational.js'
import { maxHeld } from './debt.js'

/**
 * State: the theoretical arrival time `TAT = t + f / L` (epoch ms), with `0 <= f < L`. It is
 * one rational number, kept as whole milliseconds and a numerator over L: the emission interval
 * W / L is rarely a whole number of ms, and `TAT * L` would not fit below 2^53.
 */
export interface GcraState {
  t: number
  f: number
}

/**
 * GCRA (generic cell rate algorithm): each unit of cost moves the theoretical arrival time on
 * by the emission interval `T = W / L`, from `max(TAT, now)`; a request is allowed while the
 * new TAT is at most `burst * T` (default L) ahead of now. It decides exactly as a token bucket
 * of capacity `burst` does, with one rational number of state. No state is `TAT <= now`. A
 * bucket in debt (charged past empty, see `gcraCharge`) has its TAT more than `burst * T`
 * ahead, and every request waits until it is `burst * T` ahead again.
 */
export function gcra (
  state: GcraState | undefined,
  now: number,
  cost: number,
  params: AlgorithmParams
): AlgorithmResult<GcraState> {
  const { limit, windowMs, burst } = params
  let t = now
  let f = 0
  // TAT >= now; a TAT in the past means the bucket is full again, and counts from now
  if (state !== undefined && state.t >= now) {
    t = state.t
    f = state.f
  }
  const next = later(t, f, cost, params)
  const bound = later(now, 0, burst, params)
  const allowed = next.t < bound.t || (next.t === bound.t && next.f <= bound.f)
  const tat = allowed ? next : { t, f }
  // the bucket is full again at ceil(TAT)
  const resetMs = tat.t + (tat.f > 0 ? 1 : 0)
  return {
    state: tat,
    decision: {
      allowed,
      limit,
      // burst - ceil((TAT - now) / T) whole units are still free; a clock behind the one that
      // moved the TAT on may see it more than burst * T ahead
      remaining: Math.max(0, burst - ceilMulDiv(tat.t - now, limit, windowMs, tat.f)),
      resetMs,
      // ceil(next - burst * T) - now: when the same request fits
      retryAfterMs: allowed ? 0 : next.t - bound.t + (next.f > bound.f ? 1 : 0)
    },
    ttlMs: resetMs - now
  }
}

/** `t + f / L + units * W / L`, as whole ms and a numerator over L. */
function later (t: number, f: number, units: number, { limit, windowMs }: AlgorithmParams): GcraState {
  const part = f + (units % limit) * windowMs
  return {
    t: t + Math.floor(units / limit) * windowMs + Math.floor(part / limit),
    f: part % limit
  }
}

/** The Lua twin of `gcra`, line by line (see `Algorithm.lua`); state: t, f. */
const lua = `
local function later (t, f, units, p)
  local limit, windowMs = p.limit, p.windowMs
  local part = f + fmod(units, limit) * windowMs
  return t + floor(units / limit) * windowMs + floor(part / limit), fmod(part, limit)
end

steps.gc = function (s, now, cost, p)
  local limit, windowMs, burst = p.limit, p.windowMs, p.burst
  local t, f = now, 0
  -- TAT >= now; a TAT in the past means the bucket is full again, and counts from now
  if s and s[1] >= now then
    t = s[1]
    f = s[2]
  end
  local nt, nf = later(t, f, cost, p)
  local bt, bf = later(now, 0, burst, p)
  local allowed = nt < bt or (nt == bt and nf <= bf)
  local tt, tf = t, f
  if allowed then
    tt = nt
    tf = nf
  end
  local resetMs = tt
  if tf > 0 then resetMs = tt + 1 end
  local remaining = max(0, burst - ceilMulDiv(tt - now, limit, windowMs, tf))
  if allowed then
    return true, remaining, resetMs, 0, { tt, tf }, resetMs - now
  end
  local retry = nt - bt
  if nf > bf then retry = retry + 1 end
  return false, remaining, resetMs, retry
end
`

/**
 * Moves the theoretical arrival time back by `cost` emission intervals; a TAT at or before
 * `now` is a full bucket (no state), so a refund never takes it below empty.
 */
export function gcraRefund (
  state: GcraState | undefined,
  now: number,
  cost: number,
  { limit, windowMs }: AlgorithmParams
): RefundResult<GcraState> {
  if (state === undefined) return { state: undefined, ttlMs: 0 }
  // TAT - cost * W / L, as whole ms and a numerator over L (0 <= f < L)
  const part = state.f - (cost % limit) * windowMs
  const t = state.t - Math.floor(cost / limit) * windowMs + Math.floor(part / limit)
  const f = part - Math.floor(part / limit) * limit
  if (t < now || (t === now && f === 0)) return { state: undefined, ttlMs: 0 }
  return { state: { t, f }, ttlMs: t + (f > 0 ? 1 : 0) - now }
}

/** The Lua twin of `gcraRefund` (see `Algorithm.refundLua`). */
const refundLua = `
refunds.gc = function (s, now, cost, p)
  local limit, windowMs = p.limit, p.windowMs
  if s == nil then return nil, 0 end
  local part = s[2] - fmod(cost, limit) * windowMs
  local t = s[1] - floor(cost / limit) * windowMs + floor(part / limit)
  local f = part - floor(part / limit) * limit
  if t < now or (t == now and f == 0) then return nil, 0 end
  local ttl = t - now
  if f > 0 then ttl = ttl + 1 end
  return { t, f }, ttl
end
`

/**
 * Moves the theoretical arrival time on by `cost` emission intervals at `now` whatever it is
 * (see `Algorithm.charge`): more than `burst * T` ahead of now is a debt, which time pays back
 * before any request passes again. Saturates at `maxHeld(params) * T` ahead of now.
 */
export function gcraCharge (
  state: GcraState | undefined,
  now: number,
  cost: number,
  params: AlgorithmParams
): ChargeResult<GcraState> {
  const tat = state !== undefined && state.t >= now ? state : { t: now, f: 0 }
  // a cost past 2^53 rounds, but only upward: it still reads as past the bound
  const next = later(tat.t, tat.f, cost, params)
  const bound = later(now, 0, maxHeld(params), params)
  // past the bound: the bound, or the TAT as it is, on a clock behind the one that moved it there
  const charged = !ahead(next, bound) ? next : ahead(tat, bound) ? tat : bound
  return { state: { t: charged.t, f: charged.f }, ttlMs: charged.t + (charged.f > 0 ? 1 : 0) - now }
}

/** Whether the TAT `a` is later than `b`. */
function ahead (a: GcraState, b: GcraState): boolean {
  return a.t > b.t || (a.t === b.t && a.f > b.f)
}

/** The Lua twin of `gcraCharge` (see `Algorithm.chargeLua`); it uses the consume twin's `later`. */
const chargeLua = `
charges.gc = function (s, now, cost, p)
  local t, f = now, 0
  if s and s[1] >= now then
    t = s[1]
    f = s[2]
  end
  local nt, nf = later(t, f, cost, p)
  local bt, bf = later(now, 0, maxHeld(p), p)
  if nt > bt or (nt == bt and nf > bf) then
    if t > bt or (t == bt and f > bf) then
      nt, nf = t, f
    else
      nt, nf = bt, bf
    end
  end
  local ttl = nt - now
  if nf > 0 then ttl = ttl + 1 end
  return { nt, nf }, ttl
end
`

export const gcraAlgorithm: Algorithm<GcraState> = {
  name: 'gcra',
  code: 'gc',
  usesBurst: true,
  fields: ['t', 'f'],
  lua,
  refundLua,
  chargeLua,
  consume: gcra,
  refund: gcraRefund,
  charge: gcraCharge
}
