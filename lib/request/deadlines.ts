import { errors } from '../core/errors.js'
import { monotonic } from './clock.js'

/** A store call in flight, as the deadlines see it. */
export interface Timed {
  /** Set once the call is settled (answered, failed or timed out): a later answer is ignored. */
  done: boolean
  /** The turn's cohort the call was sent with. */
  cohort: Cohort | undefined
  /** No answer came within the timeout of sending: settle the call with `err`. */
  timeout (err: Error): void
}

/**
 * The store calls made in one turn of the event loop: they are sent together and share one
 * deadline. A cohort is in the deadline queue only while one of its calls is unanswered, so
 * that the queue's head is always a call really in flight and the one timer fires only when
 * a deadline is near (a queue of answered calls made the timer fire once per turn).
 */
export class Cohort {
  /** Monotonic ms; 0 until the cohort is stamped as sent. */
  deadline = 0
  /** Calls not answered yet. */
  open = 0
  readonly calls: Timed[] = []
  prev: Cohort | undefined = undefined
  next: Cohort | undefined = undefined
}

/**
 * Bounds every asynchronous store call by `timeoutMs`, timed from when the call is sent (the
 * first turn of the event loop after it was made, so that time the loop spent on other work
 * before it could send is not charged), with one shared timer for every call in flight. A timer
 * that fires late (the loop was busy) first lets pending I/O run, so that a reply that has
 * already arrived wins over the timeout.
 */
export class Deadlines {
  readonly timeoutMs: number
  /** The calls made in this turn of the loop, stamped as sent on the next. */
  #turn: Cohort | undefined
  /** Stamped cohorts with unanswered calls, in deadline order (one timeout for all, so stamping order is deadline order). */
  #first: Cohort | undefined
  #last: Cohort | undefined
  #timer: NodeJS.Timeout | undefined

  constructor (timeoutMs: number) {
    this.timeoutMs = timeoutMs
  }

  /** A call made now: it is timed from the end of this turn. */
  add (call: Timed): void {
    let cohort = this.#turn
    if (cohort === undefined) {
      cohort = this.#turn = new Cohort()
      setImmediate(this.#stamp)
    }
    call.cohort = cohort
    cohort.calls.push(call)
    cohort.open++
  }

  /** A call was answered: its cohort leaves the queue once none of its calls is in flight. */
  settled (call: Timed): void {
    const cohort = call.cohort as Cohort
    if (--cohort.open === 0 && cohort.deadline !== 0) this.#unlink(cohort)
  }

  /** The cohorts in the deadline queue: those with a call in flight (for tests and diagnostics). */
  get queued (): number {
    let n = 0
    for (let c = this.#first; c !== undefined; c = c.next) n++
    return n
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
        call.done = true
        call.timeout(new errors.STORE_TIMEOUT(this.timeoutMs))
      }
    }
    this.#arm()
  }
}
