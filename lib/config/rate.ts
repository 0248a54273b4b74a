import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import { failFor } from './check.js'

/** A rate as declared: a string like `'10/min'` or `{ limit, windowMs }`. */
export type RateInput = string | { limit: number, windowMs: number }

/** A parsed rate. */
export interface Rate {
  readonly limit: number
  readonly windowMs: number
  /** The rate as the user wrote it (objects as `'<limit>/<windowMs>ms'`), for headers and logs. */
  readonly text: string
}

const second = 1000
const minute = 60 * second
const hour = 60 * minute
const day = 24 * hour

/** The units, lower case; a rate's unit is matched in any case (`'10/MIN'`), as fastlimit does. */
const units: Record<string, number> = {
  ms: 1,
  msec: 1,
  s: second,
  sec: second,
  secs: second,
  second,
  seconds: second,
  m: minute,
  min: minute,
  mins: minute,
  minute,
  minutes: minute,
  h: hour,
  hr: hour,
  hrs: hour,
  hour,
  hours: hour,
  d: day,
  day,
  days: day
}

const ratePattern = /^\s*(\d+)\s*\/\s*(\d*)\s*([a-z]+)\s*$/i
const unitList = Object.keys(units).join(', ')

/**
 * The largest count a rate may have: the largest sf-integer (RFC 9651), so that every header
 * format can carry the limit (the IETF fields write it as `q=`).
 */
export const MAX_RATE_LIMIT = 999_999_999_999_999

/**
 * Keeps every intermediate product of the algorithms below 2^53 (the sliding window compares
 * `prev * W + (curr + cost) * W` against `L * W`), so decisions stay exact integers.
 */
export const MAX_RATE_PRODUCT = Math.floor(Number.MAX_SAFE_INTEGER / 4)

/**
 * Parses `'<count>/<window>'` (`5/s`, `10/min`, `3/5min`, `20/30s`) or `{ limit, windowMs }`.
 * @param where who declared it, for the error: `Route POST /upload` or `fastify-limiter option`
 * @param path the option path, for the error: `config.rateLimit.ip`
 */
export function parseRate (input: unknown, where: string, path: string): Rate {
  if (typeof input === 'string') {
    const match = ratePattern.exec(input)
    if (match === null) throw new errors.INVALID_RATE(where, path, formatValue(input), '')
    const unit = match[3].toLowerCase()
    const size = units[unit]
    if (size === undefined) {
      throw new errors.INVALID_RATE(where, path, formatValue(input), typo(unit) ? '' : ` (${formatValue(match[3])} is not a unit; units: ${unitList})`)
    }
    const limit = Number(match[1])
    const multiplier = match[2] === '' ? 1 : Number(match[2])
    return checked({ limit, windowMs: multiplier * size, text: input.trim() }, input, where, path)
  }
  if (input !== null && typeof input === 'object') {
    const { limit, windowMs } = input as { limit: unknown, windowMs: unknown }
    if (typeof limit === 'number' && typeof windowMs === 'number') {
      return checked({ limit, windowMs, text: `${limit}/${windowMs}ms` }, input, where, path)
    }
  }
  throw new errors.INVALID_RATE(where, path, formatValue(input), '')
}

/**
 * Parses one rate or several (`ip: ['10/s', '1000/day']`), each with its option path (`ip[1]`);
 * the same rate listed twice is an error (`fail`: the declaration's coded error).
 */
export function parseRates (input: RateInput | readonly RateInput[], where: string, path: string): Array<{ rate: Rate, at: string }> {
  const list: readonly RateInput[] = Array.isArray(input) ? input : [input as RateInput]
  const parsed = list.map((entry, i) => {
    const at = Array.isArray(input) ? `${path}[${i}]` : path
    return { rate: parseRate(entry, where, at), at }
  })
  if (new Set(parsed.map(({ rate }) => `${rate.limit}/${rate.windowMs}`)).size !== parsed.length) {
    throw failFor(where)(path, 'each rate listed once', `${formatValue(input)}, the same rate twice`)
  }
  return parsed
}

/**
 * A unit with one letter too many (`minn`, `secss`): the message's example `'10/min'` already
 * shows the spelling, so the unit list is kept for words that name no unit at all.
 */
function typo (unit: string): boolean {
  return units[unit.slice(0, -1)] !== undefined
}

function checked (rate: Rate, input: unknown, where: string, path: string): Rate {
  const { limit, windowMs } = rate
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new errors.INVALID_RATE(where, path, formatValue(input), ' (the count must be a positive integer)')
  }
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) {
    throw new errors.INVALID_RATE(where, path, formatValue(input), ' (the window must be a positive whole number of milliseconds)')
  }
  if (limit > MAX_RATE_LIMIT) {
    throw new errors.INVALID_RATE(where, path, formatValue(input), ` (the count must be at most ${MAX_RATE_LIMIT}, the largest number a RateLimit header can carry)`)
  }
  if (limit * windowMs > MAX_RATE_PRODUCT) {
    throw new errors.INVALID_RATE(where, path, formatValue(input), ` (count × window in ms must not exceed ${MAX_RATE_PRODUCT})`)
  }
  return rate
}

/** The longest duration a `ban` takes (`for`, `max`): 365 days, so a ban's arithmetic stays exact. */
export const MAX_DURATION_MS = 365 * day

const durationPattern = /^\s*(\d*)\s*([a-z]+)\s*$/i

/**
 * Parses a duration: whole milliseconds, or `'<count><unit>'` with the units of a rate
 * (`'15min'`, `'30s'`, `'1h'`, `'min'` for one minute); from 1 ms to MAX_DURATION_MS.
 * Returns undefined for anything else (the caller throws its own coded error, naming the option).
 */
export function parseDuration (input: unknown): number | undefined {
  let ms: number | undefined
  if (typeof input === 'number') {
    ms = input
  } else if (typeof input === 'string') {
    const match = durationPattern.exec(input)
    const size = match === null ? undefined : units[match[2].toLowerCase()]
    if (match !== null && size !== undefined) ms = (match[1] === '' ? 1 : Number(match[1])) * size
  }
  if (ms === undefined || !Number.isSafeInteger(ms) || ms < 1 || ms > MAX_DURATION_MS) return undefined
  return ms
}
