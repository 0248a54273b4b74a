import { Since } from './clock.js'

/** A cause is logged at most once per this many ms. */
const LOG_EVERY_MS = 1000

/** The most distinct causes remembered; past that the memory starts over. */
const MAX_CAUSES = 100

/**
 * Logs each cause of a failure at most once a second, with the count of the lines it held back
 * meanwhile: a store outage at 20,000 requests/s writes a few lines, not 20,000.
 */
export class LogThrottle {
  readonly #clock: (() => number) | undefined
  readonly #seen = new Map<string, { at: Since, suppressed: number }>()

  /** `clock`: the plugin's injected clock, which may end the second early (see `Since`). */
  constructor (clock: (() => number) | undefined) {
    this.#clock = clock
  }

  /**
   * Whether the line of `cause` should be written now; when it should, the count of the lines
   * held back since the last one, else undefined.
   */
  admit (cause: string): number | undefined {
    const seen = this.#seen.get(cause)
    if (seen !== undefined && !seen.at.passed(LOG_EVERY_MS)) {
      seen.suppressed++
      return undefined
    }
    if (seen === undefined && this.#seen.size >= MAX_CAUSES) this.#seen.clear()
    this.#seen.set(cause, { at: new Since(this.#clock), suppressed: 0 })
    return seen?.suppressed ?? 0
  }
}

/** What a failure is logged by: its code, else its message, else its text (at most 200 characters). */
export function causeOf (err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const { code, message } = err as { code?: unknown, message?: unknown }
    if (typeof code === 'string') return code
    if (typeof message === 'string') return message.slice(0, 200)
  }
  return String(err).slice(0, 200)
}
