/**
 * Exact integer arithmetic for rates `L / W` that are not whole numbers per millisecond.
 *
 * A bucket of `burst` units refilled at L per W needs `burst * W` when it is scaled to whole
 * numbers, and the plugin only keeps `4 * L * W` below 2^53 (with `burst <= 1000 * L`). So a
 * product with a burst is split into a whole part and a remainder below `div` first; every
 * intermediate then stays below `mul * div + |extra|`. Plain doubles and `floor`, so the Lua
 * twins can do the same.
 */

/**
 * `ceil((a * mul + extra) / div)` for integers `a >= 0`, `mul, div >= 1` and
 * `|extra| <= mul * div`, without forming `a * mul`.
 */
export function ceilMulDiv (a: number, mul: number, div: number, extra: number): number {
  const whole = Math.floor(a / div)
  return whole * mul + Math.ceil(((a % div) * mul + extra) / div)
}

/** The Lua twin of `ceilMulDiv`, a local of every Redis script, which the twins of the buckets call. */
export const ceilMulDivLua = `
local function ceilMulDiv (a, mul, div, extra)
  return floor(a / div) * mul + ceil((fmod(a, div) * mul + extra) / div)
end
`
