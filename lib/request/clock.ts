/**
 * Time, as the request path reads it: durations on a monotonic clock (never stepped by NTP or an
 * operator), decisions at epoch milliseconds (the plugin's `clock` option, or the store's own).
 */

/** The monotonic clock every duration runs on. */
export const monotonic = (): number => performance.now()

/** The latest instant a Date can hold, in ms: beyond it a clock's value means nothing. */
const MAX_EPOCH_MS = 8.64e15

/** A clock reading the stores can decide at: integer epoch ms from 0 to MAX_EPOCH_MS. */
export function isEpochMs (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_EPOCH_MS
}

/** The injected clock's time, or undefined when there is none or it returned nonsense. */
export function readClock (clock: (() => number) | undefined): number | undefined {
  if (clock === undefined) return undefined
  try {
    const now = clock()
    return Number.isFinite(now) ? now : undefined
  } catch {
    return undefined
  }
}

/**
 * A moment on the monotonic clock and, when the plugin has an injected clock, on that clock too.
 * A duration has passed when either clock says so: a wall clock stepped back can never lengthen
 * it (the monotonic clock ends it), and tests on an injected clock can still move it forward.
 */
export class Since {
  readonly #mono: number
  readonly #at: number | undefined
  readonly #clock: (() => number) | undefined

  constructor (clock: (() => number) | undefined, mono = monotonic()) {
    this.#mono = mono
    this.#clock = clock
    this.#at = readClock(clock)
  }

  /** Whether `ms` have passed since this moment. */
  passed (ms: number): boolean {
    if (monotonic() - this.#mono >= ms) return true
    if (this.#at === undefined) return false
    const now = readClock(this.#clock)
    return now !== undefined && now - this.#at >= ms
  }
}
