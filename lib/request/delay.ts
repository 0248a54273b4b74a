import type { FastifyReply, FastifyRequest } from 'fastify'
import { performance } from 'node:perf_hooks'
import type { StoreBucket } from '../core/store.js'
import type { CompiledLimit } from '../core/types.js'
import type { Reporter } from '../observe/report.js'

/** What the delay queue needs of a request's attempt (hook.ts's Attempt). */
export interface Delayable {
  readonly request: FastifyRequest
  readonly reply: FastifyReply
  readonly limit: CompiledLimit
  readonly buckets: StoreBucket[]
  /** The plugin clock's time of the current decision, when the plugin has a clock. */
  readonly now: number | undefined
  /** Set while the request waits (or is being decided again after waiting). */
  waiter: Waiter | undefined
}

/** One waiting request. */
export interface Waiter {
  readonly attempt: Delayable
  readonly line: Line
  readonly identity: string
  /** When it started waiting: the plugin's clock if it has one (so tests are exact), else monotonic. */
  readonly start: number
  /** Monotonic ms after which it waits no more: arrival + `maxMs` of real time. */
  readonly deadline: number
  timer: NodeJS.Timeout | undefined
  /** The request stream closed: an abort when it was destroyed (not merely read to its end). */
  readonly onRequestClose: () => void
  /** The response closed before it was sent: the client went away. */
  readonly onReplyClose: () => void
}

/** The waiting requests of one limit (a route, or a group), per identity in arrival order. */
interface Line {
  size: number
  readonly byIdentity: Map<string, Waiter[]>
}

/**
 * Waiting instead of a 429 (the `delay` option). A denied request whose `retryAfterMs` is at most
 * `maxMs` waits on an unref'd timer and is decided again (a denial charges nothing, so it is
 * charged only when it passes). Waiting requests of one identity form a FIFO: only its head has a
 * timer, a newcomer of that identity queues behind it without asking the store, and when the head
 * leaves the next one is decided at once. At most `queue` requests wait per limit and process;
 * past that, the 429. A client that disconnects while waiting is dropped.
 */
export class DelayQueue {
  readonly #lines = new WeakMap<CompiledLimit, Line>()
  /** Every waiter with a timer, for close(). */
  readonly #timed = new Set<Waiter>()
  readonly #retry: (attempt: Delayable) => void
  readonly #clock: (() => number) | undefined
  readonly #report: Reporter
  #closed = false

  /** `retry(attempt)` decides a waiting attempt again, at a fresh clock reading. */
  constructor (retry: (attempt: Delayable) => void, clock: (() => number) | undefined, report: Reporter) {
    this.#retry = retry
    this.#clock = clock
    this.#report = report
  }

  /**
   * On arrival: when requests of the same identity already wait on this limit, this one queues
   * behind them (true) without asking the store, so that it cannot overtake them.
   */
  behind (attempt: Delayable): boolean {
    const delay = attempt.limit.delay as NonNullable<CompiledLimit['delay']>
    const line = this.#lines.get(attempt.limit)
    if (line === undefined || line.size >= delay.queue) return false
    const identity = identityOf(attempt.buckets)
    const waiting = line.byIdentity.get(identity)
    if (waiting === undefined) return false
    this.#join(attempt, line, identity, waiting)
    return true
  }

  /**
   * On a denial that would be a 429: true when the request waits instead (it is decided again
   * later); false when it gets the 429 (too long a wait, the queue full, or closing).
   */
  wait (attempt: Delayable, retryAfterMs: number): boolean {
    const delay = attempt.limit.delay as NonNullable<CompiledLimit['delay']>
    const waiter = attempt.waiter
    if (waiter !== undefined) {
      if (!this.#closed && performance.now() + retryAfterMs <= waiter.deadline) {
        this.#schedule(waiter, retryAfterMs)
        return true
      }
      this.leave(attempt)
      return false
    }
    if (this.#closed || retryAfterMs > delay.maxMs || gone(attempt)) return false
    let line = this.#lines.get(attempt.limit)
    if (line === undefined) {
      line = { size: 0, byIdentity: new Map() }
      this.#lines.set(attempt.limit, line)
    }
    if (line.size >= delay.queue) return false
    const identity = identityOf(attempt.buckets)
    const waiting = line.byIdentity.get(identity) ?? []
    this.#join(attempt, line, identity, waiting)
    // an async store call may have let others of this identity queue up meanwhile: then it waits its turn
    const joined = attempt.waiter as Waiter
    if (waiting[0] === joined) this.#schedule(joined, retryAfterMs)
    return true
  }

  /** The attempt passed after waiting: it leaves the line; returns how long it waited, in ms. */
  passed (attempt: Delayable): number {
    const waiter = attempt.waiter as Waiter
    const end = this.#clock === undefined ? performance.now() : attempt.now as number
    this.leave(attempt)
    const waited = Math.max(0, Math.round(end - waiter.start))
    this.#report.delayed(attempt.request, attempt.limit)
    return waited
  }

  /** The attempt stops waiting (it is answered some other way): the next of its identity goes on. */
  leave (attempt: Delayable): void {
    const waiter = attempt.waiter
    if (waiter === undefined) return
    attempt.waiter = undefined
    this.#remove(attempt, waiter)
  }

  /** On Fastify close: nothing waits any more; every waiting request is decided now (pass or 429). */
  close (): void {
    this.#closed = true
    const timed = [...this.#timed]
    this.#timed.clear()
    for (const waiter of timed) {
      clearTimeout(waiter.timer)
      waiter.timer = undefined
      this.#retry(waiter.attempt)
    }
  }

  #join (attempt: Delayable, line: Line, identity: string, waiting: Waiter[]): void {
    // leave() removes both listeners, so this runs while the request waits (or is decided again)
    const aborted = () => {
      this.leave(attempt)
      this.#report.delayAborted(attempt.request, attempt.limit)
    }
    const { raw } = attempt.request
    const waiter: Waiter = {
      attempt,
      line,
      identity,
      start: this.#clock === undefined ? performance.now() : attempt.now as number,
      deadline: performance.now() + (attempt.limit.delay as NonNullable<CompiledLimit['delay']>).maxMs,
      timer: undefined,
      onRequestClose: () => {
        if (gone(attempt)) aborted()
      },
      onReplyClose: () => {
        if (gone(attempt)) aborted()
      }
    }
    attempt.waiter = waiter
    if (waiting.length === 0) line.byIdentity.set(identity, waiting)
    waiting.push(waiter)
    line.size++
    raw.once('close', waiter.onRequestClose)
    attempt.reply.raw.once('close', waiter.onReplyClose)
  }

  #schedule (waiter: Waiter, ms: number): void {
    waiter.timer = setTimeout(() => {
      waiter.timer = undefined
      this.#timed.delete(waiter)
      this.#retry(waiter.attempt)
    }, ms)
    waiter.timer.unref()
    this.#timed.add(waiter)
  }

  #remove (attempt: Delayable, waiter: Waiter): void {
    const { line, identity } = waiter
    if (waiter.timer !== undefined) {
      clearTimeout(waiter.timer)
      waiter.timer = undefined
      this.#timed.delete(waiter)
    }
    attempt.request.raw.removeListener('close', waiter.onRequestClose)
    attempt.reply.raw.removeListener('close', waiter.onReplyClose)
    line.size--
    const waiting = line.byIdentity.get(identity) as Waiter[]
    const at = waiting.indexOf(waiter)
    waiting.splice(at, 1)
    if (waiting.length === 0) {
      line.byIdentity.delete(identity)
    } else if (at === 0) {
      // the next of this identity is decided at once (it may still have to wait its own turn)
      this.#schedule(waiting[0], 0)
    }
  }
}

/**
 * Whether the client went away: the request aborted or destroyed by an error, or the response
 * closed before it was sent (a request stream merely read to its end is not that).
 */
export function gone (attempt: Pick<Delayable, 'request' | 'reply'>): boolean {
  const { raw } = attempt.request
  const response = attempt.reply.raw
  return raw.aborted || raw.errored != null || (response.destroyed && !response.writableFinished)
}

/** The identity a line is kept by: every store key of the request under the limit. */
function identityOf (buckets: StoreBucket[]): string {
  return buckets.length === 1 ? buckets[0].key : buckets.map((b) => b.key).join('\n')
}
