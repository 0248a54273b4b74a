import { missingOptionalMethods } from '../../stores/store.js'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { Store } from '../core/store.js'
import type { CompiledBan, CountOption, DelaySettings } from '../core/types.js'
import { parseDuration } from './rate.js'
import type { BanSchema, RateLimitObject } from './schema.js'
import type { Fail } from './check.js'
import type { Static } from 'typebox'

/**
 * Options that the plugin sets for every limit and a limit may override (`count`, `delay`):
 * resolved the same way for both, by options.ts and compile.ts.
 */

/** A `count` other than `'all'` refunds: the store must have `refund()` (checked at registration). */
export function checkCount (store: Store, count: CountOption, where: string, path: string): CountOption {
  if (count !== 'all' && missingOptionalMethods(store, ['refund']).length > 0) {
    throw new errors.STORE_LACKS_METHOD(where, `${path} ${typeof count === 'string' ? formatValue(count) : '(a function)'}`, 'refund')
  }
  return count
}

/** A `settle` function: the store must have `refund()` and `charge()` (checked at registration). */
export function checkSettle<T> (store: Store, settle: T, where: string, path: string): T {
  const missing = missingOptionalMethods(store, ['refund', 'charge'])
  if (settle !== undefined && missing.length > 0) throw new errors.STORE_LACKS_METHOD(where, path, missing.join('() and '))
  return settle
}

/** Most requests waiting per limit and process, by default. */
const DEFAULT_DELAY_QUEUE = 1000

/** The `delay` option (plugin or route), defaulted; `false` and undefined mean no waiting. */
export function resolveDelay (delay: RateLimitObject['delay']): DelaySettings | undefined {
  if (delay === undefined || delay === false) return undefined
  return Object.freeze({ maxMs: delay.maxMs, queue: delay.queue ?? DEFAULT_DELAY_QUEUE })
}

/** The longest ban by default when `backoff` is above 1 (unless `for` is longer). */
const DEFAULT_MAX_BAN_MS = 24 * 60 * 60 * 1000

/**
 * The `ban` option (plugin or route), resolved to integers: durations parsed, `backoff` in
 * thousandths, `max` defaulted; the store must have `strike()` (FST_LIMITER_STORE_LACKS_METHOD).
 * A bad value throws `fail(path, expected, received)`: the caller's coded error, naming the
 * declaration (`where`) and the option path (`path`, e.g. `config.rateLimit.ban`).
 */
export function resolveBan (
  { ban, onBan, store }: { ban: Static<typeof BanSchema>, onBan: CompiledBan['onBan'], store: Store },
  { where, path, fail }: { where: string, path: string, fail: Fail }
): CompiledBan {
  if (missingOptionalMethods(store, ['strike']).length > 0) throw new errors.STORE_LACKS_METHOD(where, path, 'strike')
  const forMs = parseDuration(ban.for)
  if (forMs === undefined) throw fail(`${path}.for`, "a duration like '15min' or milliseconds, from 1 ms to 365 days", formatValue(ban.for))
  const backoff = ban.backoff ?? 1
  const backoffMilli = Math.round(backoff * 1000)
  // the arithmetic is in thousandths (the same in JavaScript and Lua): a finer factor would be rounded
  if (Math.abs(backoff * 1000 - backoffMilli) > 1e-6) throw fail(`${path}.backoff`, 'a number from 1 to 100 in steps of 0.001', formatValue(ban.backoff))
  let maxMs: number
  if (ban.max === undefined) {
    maxMs = backoffMilli === 1000 ? forMs : Math.max(forMs, DEFAULT_MAX_BAN_MS)
  } else {
    const parsed = parseDuration(ban.max)
    if (parsed === undefined) throw fail(`${path}.max`, "a duration like '1d' or milliseconds, from 1 ms to 365 days", formatValue(ban.max))
    if (parsed < forMs) throw fail(`${path}.max`, `a duration at least as long as for (${forMs} ms)`, `${formatValue(ban.max)} (${parsed} ms)`)
    maxMs = parsed
  }
  return Object.freeze({ after: ban.after, forMs, backoffMilli, maxMs, statusCode: ban.statusCode ?? 403, extend: ban.extend ?? false, onBan })
}
