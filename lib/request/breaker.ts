import { Since, monotonic } from './clock.js'

/** Once open, the breaker keeps requests off the store for this long, then lets one probe through. */
export const BREAKER_MS = 1000

/** Consecutive failures that open the breaker. */
export const BREAKER_FAILURES = 5

/** The breaker also opens when at least half of the calls settled within this window failed... */
export const BREAKER_WINDOW_MS = 1000

/** ...and the window saw at least this many calls (so that one failure never opens it). */
export const BREAKER_MIN_CALLS = 10

/** The breaker's states: the store is asked; it is not; one probe asks it. */
export type BreakerState = 'closed' | 'open' | 'half-open'

/**
 * Keeps requests off a failing store: BREAKER_FAILURES consecutive failures, or half of at least
 * BREAKER_MIN_CALLS calls within BREAKER_WINDOW_MS, or one failure that held the event loop
 * (`failed(true)`) open it for BREAKER_MS, during which requests do not wait for the store at
 * all; then one probe asks the store: a success closes it, a failure opens it again. One slow or
 * failed call among many never opens it. Durations run on the monotonic clock (see `Since`).
 */
export class Breaker {
  readonly #clock: (() => number) | undefined
  #state: BreakerState = 'closed'
  #openedAt: Since | undefined
  #consecutive = 0
  #windowStart = 0
  #windowCalls = 0
  #windowFailures = 0

  /** `clock`: the plugin's injected clock, which may end the open time early (see `Since`). */
  constructor (clock: (() => number) | undefined) {
    this.#clock = clock
  }

  get state (): BreakerState {
    return this.#state
  }

  /**
   * Whether a call may go to the store now: always while closed; while open, no; once BREAKER_MS
   * have passed, yes for one probe, and no for the others until the probe settles.
   */
  admit (): boolean {
    // the common case (never failed, or closed again) reads no clock
    if (this.#state === 'closed') return true
    if (this.#state === 'half-open') return false
    if (!(this.#openedAt as Since).passed(BREAKER_MS)) return false
    this.#state = 'half-open'
    return true
  }

  /** A call answered: the run of failures ends, and a probe's success closes the breaker. */
  succeeded (): void {
    this.#consecutive = 0
    this.#windowCalls++
    if (this.#state !== 'closed') this.#state = 'closed'
  }

  /** A call failed; `heldLoop`: it held the event loop a busy timeout long, which opens the breaker at once. */
  failed (heldLoop: boolean): void {
    const now = monotonic()
    if (now - this.#windowStart > BREAKER_WINDOW_MS) {
      this.#windowStart = now
      this.#windowCalls = 0
      this.#windowFailures = 0
    }
    this.#consecutive++
    this.#windowCalls++
    this.#windowFailures++
    if (
      heldLoop ||
      this.#state !== 'closed' ||
      this.#consecutive >= BREAKER_FAILURES ||
      (this.#windowCalls >= BREAKER_MIN_CALLS && this.#windowFailures * 2 >= this.#windowCalls)
    ) {
      this.#state = 'open'
      this.#openedAt = new Since(this.#clock, now)
    }
  }
}
