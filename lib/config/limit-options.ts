import { missingOptionalMethods } from '../../stores/store.js'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { Store } from '../core/store.js'
import type { CountOption, DelaySettings } from '../core/types.js'
import type { RateLimitObject } from './schema.js'

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

/** Most requests waiting per limit and process, by default. */
const DEFAULT_DELAY_QUEUE = 1000

/** The `delay` option (plugin or route), defaulted; `false` and undefined mean no waiting. */
export function resolveDelay (delay: RateLimitObject['delay']): DelaySettings | undefined {
  if (delay === undefined || delay === false) return undefined
  return Object.freeze({ maxMs: delay.maxMs, queue: delay.queue ?? DEFAULT_DELAY_QUEUE })
}
