import type { FastifyRequest } from 'fastify'
import { MemoryStore } from '../../stores/memory.js'
import type { DecisionSink, StoreDecision } from '../core/store.js'
import { errors } from '../core/errors.js'
import type { StoreErrorMode } from '../core/types.js'

/** Once open, the breaker keeps requests off the store for this long, then lets one probe through. */
export const BREAKER_MS = 1000

/** Consecutive failures that open the breaker. */
export const BREAKER_FAILURES = 5

/** The breaker also opens when at least half of the calls settled within this window failed... */
export const BREAKER_WINDOW_MS = 1000

/** ...and the window saw at least this many calls (so that one failure never opens it). */
export const BREAKER_MIN_CALLS = 10

/** A failure cause is logged at most once per this many ms. */
const LOG_EVERY_MS = 1000

/** The most distinct causes remembered for that. */
const MAX_CAUSES = 100

/** The monotonic clock every duration runs on: never stepped by NTP or an operator. */
export const monotonic = (): number => performance.now()

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

/** Who waits for a store call's answer (the hook's request attempt, or a promise's callbacks). */
export interface CallTarget<T = StoreDecision> {
  answered (value: T): void
  unanswered (err: unknown): void
}

/**
 * One store call in flight: settled by its reply or by its cohort's deadline, whichever is
 * first. It is the store's sink (`DecisionSink`), so a store with the fast path answers it
 * directly, without a promise.
 */
class Pending<T = StoreDecision> implements DecisionSink<T> {
  done = false
  /**
   * Undefined once the call is settled: an answered call keeps nothing alive (its target holds
   * the request; measured: +15 µs per request on Redis while answered calls held it until their
   * deadline).
   */
  target: CallTarget<T> | undefined
  readonly cohort: Cohort
  readonly #guard: StoreGuard

  constructor (guard: StoreGuard, cohort: Cohort, target: CallTarget<T>) {
    this.#guard = guard
    this.cohort = cohort
    this.target = target
  }

  decided (value: T): void {
    const target = this.#settle()
    target?.answered(value)
  }

  failed (err: unknown): void {
    const target = this.#settle()
    target?.unanswered(err)
  }

  /** The target, the first time the call settles; undefined after. */
  #settle (): CallTarget<T> | undefined {
    if (this.done) return undefined
    const target = this.target
    this.done = true
    this.target = undefined
    this.#guard.left(this.cohort)
    return target
  }
}

/**
 * The store calls made in one turn of the event loop: they are sent together and share one
 * deadline. A cohort is in the deadline queue only while one of its calls is unanswered, so
 * that the queue's head is always a call really in flight and the one timer fires only when
 * a deadline is near (a queue of answered calls made the timer fire once per turn).
 */
class Cohort {
  /** Monotonic ms; 0 until the cohort is stamped as sent. */
  deadline = 0
  /** Calls not answered yet. */
  open = 0
  readonly calls: Array<Pending<any>> = []
  prev: Cohort | undefined = undefined
  next: Cohort | undefined = undefined
}

/**
 * Keeps a failing store from taking requests down with it:
 * - bounds every asynchronous store call by `timeoutMs`, timed from when the call is sent (the
 *   first turn of the event loop after it was made, so that time the loop spent on other work
 *   before it could send is not charged), with one shared timer for every call in flight; a
 *   timer that fires late (the loop was busy) first lets pending I/O run, so a reply that has
 *   already arrived wins over the timeout;
 * - a breaker: BREAKER_FAILURES consecutive asynchronous failures, or half of at least
 *   BREAKER_MIN_CALLS calls within BREAKER_WINDOW_MS, or one synchronous failure (see `failed`)
 *   open it for BREAKER_MS, during which requests do not wait
 *   for the store at all; then one probe request asks the store: a success closes it, a
 *   failure opens it again. One slow call among many never opens it;
 * - logs each cause at most once per second, with the count of those it did not log;
 * - holds the local MemoryStore that `'fallback'` decides on.
 * Every duration runs on the monotonic clock (see `Since`).
 */
export class StoreGuard {
  readonly timeoutMs: number
  /** The injected clock, if any: the fallback store decides on it, and it may end durations early. */
  readonly clock: (() => number) | undefined
  #fallback: MemoryStore | undefined

  #state: 'closed' | 'open' | 'half-open' = 'closed'
  #openedAt: Since | undefined
  #consecutive = 0
  #windowStart = 0
  #windowCalls = 0
  #windowFailures = 0

  /** The calls made in this turn of the loop, stamped as sent on the next. */
  #turn: Cohort | undefined
  /** Stamped cohorts with unanswered calls, in deadline order (one timeout for all, so stamping order is deadline order). */
  #first: Cohort | undefined
  #last: Cohort | undefined
  #timer: NodeJS.Timeout | undefined
  readonly #logged = new Map<string, { at: Since, suppressed: number }>()

  constructor (timeoutMs: number, clock: (() => number) | undefined) {
    this.timeoutMs = timeoutMs
    this.clock = clock
  }

  /** The local store of `'fallback'`, made on first use: most apps never need it (nor its sweep timer). */
  get fallback (): MemoryStore {
    this.#fallback ??= new MemoryStore(this.clock === undefined ? {} : { clock: this.clock })
    return this.#fallback
  }

  /**
   * Whether a request may ask the store now: always while the breaker is closed; while it is
   * open, no; once BREAKER_MS have passed, yes for one probe, and no for the others until the
   * probe settles.
   */
  admit (): boolean {
    // the common case (never failed, or closed again) reads no clock
    if (this.#state === 'closed') return true
    if (this.#state === 'half-open') return false
    if (!(this.#openedAt as Since).passed(BREAKER_MS)) return false
    this.#state = 'half-open'
    return true
  }

  /** A store call answered: the run of failures ends, and a probe's success closes the breaker. */
  succeeded (): void {
    this.#consecutive = 0
    this.#windowCalls++
    if (this.#state !== 'closed') this.#state = 'closed'
  }

  /**
   * Calls `ok` with the store's answer, or `fail` with its error or with STORE_TIMEOUT when no
   * answer came within `timeoutMs` of sending. Exactly one of them is called, once.
   */
  watch<T> (pending: PromiseLike<T>, ok: (value: T) => void, fail: (err: unknown) => void): void {
    const call = this.call<T>({ answered: ok, unanswered: fail })
    pending.then((value) => call.decided(value), (err: unknown) => call.failed(err))
  }

  /**
   * A store call made now, bounded like `watch`: the sink to hand the store (its fast path,
   * `consumeTo`). `target` hears its answer, its failure or STORE_TIMEOUT, exactly once.
   */
  call<T = StoreDecision> (target: CallTarget<T>): Pending<T> {
    let cohort = this.#turn
    if (cohort === undefined) {
      cohort = this.#turn = new Cohort()
      setImmediate(this.#stamp)
    }
    const call = new Pending<T>(this, cohort, target)
    cohort.calls.push(call)
    cohort.open++
    return call
  }

  /** The store's answer as a promise, bounded like `watch`. */
  bound<T = StoreDecision> (pending: PromiseLike<T>): Promise<T> {
    return new Promise((resolve, reject) => this.watch(pending, resolve, reject))
  }

  /**
   * A call of `cohort` settled: the cohort leaves the queue once none of its calls is in flight.
   * @internal for Pending
   */
  left (cohort: Cohort): void {
    if (--cohort.open === 0 && cohort.deadline !== 0) this.#unlink(cohort)
  }

  /** Stamps this turn's calls as sent, now that the loop is free to send them and read replies. */
  readonly #stamp = (): void => {
    const cohort = this.#turn as Cohort
    this.#turn = undefined
    cohort.deadline = monotonic() + this.timeoutMs
    // every call already answered: nothing to time out
    if (cohort.open === 0) return
    cohort.prev = this.#last
    if (this.#last === undefined) this.#first = cohort
    else this.#last.next = cohort
    this.#last = cohort
    if (this.#timer === undefined) this.#arm()
  }

  /** The cohorts in the deadline queue: those with a call in flight (for tests and diagnostics). */
  get queued (): number {
    let n = 0
    for (let c = this.#first; c !== undefined; c = c.next) n++
    return n
  }

  #unlink (cohort: Cohort): void {
    if (cohort.prev === undefined) this.#first = cohort.next
    else cohort.prev.next = cohort.next
    if (cohort.next === undefined) this.#last = cohort.prev
    else cohort.next.prev = cohort.prev
    cohort.prev = cohort.next = undefined
  }

  /**
   * One timer for the earliest deadline in flight, if any. It is never later than the head's
   * deadline: a cohort that leaves the queue only makes it fire early, and then it is armed again.
   */
  #arm (): void {
    if (this.#first === undefined) return
    const wait = Math.max(0, Math.ceil(this.#first.deadline - monotonic()))
    // a timer that fires late means the loop was busy: let pending I/O (replies that arrived
    // meanwhile) run first, then expire what is still unanswered
    this.#timer = setTimeout(() => setImmediate(this.#expire), wait)
  }

  readonly #expire = (): void => {
    this.#timer = undefined
    const now = monotonic()
    for (let cohort = this.#first; cohort !== undefined && cohort.deadline <= now; cohort = this.#first) {
      this.#unlink(cohort)
      for (const call of cohort.calls) {
        if (call.done) continue
        // not settled, so its target is still there; the cohort is already out of the queue
        const target = call.target as CallTarget<unknown>
        call.done = true
        call.target = undefined
        target.unanswered(new errors.STORE_TIMEOUT(this.timeoutMs))
      }
    }
    this.#arm()
  }

  /**
   * Records a failure and logs its cause unless it was logged within a second. `how` says what
   * failed: `'async'` (a rejection or a timeout) counts towards opening the breaker; `'sync'` (the
   * store threw, such as SQLite after its busy timeout) opens it at once, since every such call
   * held the whole event loop and none can be a stall of this process; `'none'` (not the store:
   * a bad `clock` reading) leaves the breaker alone.
   */
  failed (request: FastifyRequest, err: unknown, mode: StoreErrorMode, how: 'async' | 'sync' | 'none' = 'async'): void {
    if (how !== 'none') this.#count(how === 'sync')
    const cause = causeOf(err)
    const seen = this.#logged.get(cause)
    if (seen !== undefined && !seen.at.passed(LOG_EVERY_MS)) {
      seen.suppressed++
      return
    }
    if (seen === undefined && this.#logged.size >= MAX_CAUSES) this.#logged.clear()
    this.#logged.set(cause, { at: new Since(this.clock), suppressed: 0 })
    request.log.error({ err, onStoreError: mode, suppressed: seen?.suppressed ?? 0, breaker: this.#state },
      `fastify-limiter: the rate-limit store failed (${mode === 'fallback' ? 'deciding on the local memory store' : mode === 'allow' ? 'letting requests through' : 'answering 503'} for ${BREAKER_MS} ms before trying it again once it fails ${BREAKER_FAILURES} times in a row or on half of its calls)`)
  }

  /** Counts a failure and opens the breaker when it is synchronous, or the run or the window's ratio calls for it. */
  #count (synchronous: boolean): void {
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
      synchronous ||
      this.#state !== 'closed' ||
      this.#consecutive >= BREAKER_FAILURES ||
      (this.#windowCalls >= BREAKER_MIN_CALLS && this.#windowFailures * 2 >= this.#windowCalls)
    ) {
      this.#state = 'open'
      this.#openedAt = new Since(this.clock, now)
    }
  }

  /** The deadline timer is left to run out: calls still in flight get their answer or their timeout. */
  close (): void {
    this.#fallback?.close()
  }
}

function causeOf (err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const { code, message } = err as { code?: unknown, message?: unknown }
    if (typeof code === 'string') return code
    if (typeof message === 'string') return message.slice(0, 200)
  }
  return String(err).slice(0, 200)
}
