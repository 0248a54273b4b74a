import { performance } from 'node:perf_hooks'
import type { StoreBucket } from '../core/store.js'
import type { CompiledLimit } from '../core/types.js'
import type { Reporter } from '../observe/report.js'
import { clientGone } from './flow.js'
import type { DelayLine, Flow } from './flow.js'

/** One waiting request. */
interface Waiter {
  readonly flow: Flow
  readonly line: Line
  readonly identity: string
  /** When it started waiting: the plugin's clock if it has one (so tests are exact), else monotonic. */
  readonly start: number
  /** Monotonic ms after which it waits no more: arrival + `maxMs` of real time. */
  readonly deadline: number
  timer: NodeJS.Timeout | undefined
  /** The request stream or the response closed: the client may have gone away. */
  readonly onClose: () => void
}

/** The waiting requests of one limit (a route, or a group), per identity in arrival order. */
interface Line {
  size: number
  readonly byIdentity: Map<string, Waiter[]>
}

/**
 * Waiting instead of a 429 (the `delay` option). A denied request whose `retryAfterMs` is at most
 * `maxMs` waits on a timer and is decided again (a denial charges nothing, so it is charged only
 * when it passes). Waiting requests of one identity form a FIFO: only its head has a timer, a
 * newcomer of that identity queues behind it without asking the store, and when the head leaves
 * the next one is decided at once. At most `queue` requests wait per limit and process; past
 * that, the 429. A client that disconnects while waiting is dropped. The timers keep the process
 * alive: a waiting request is work in progress. On close (Fastify's `preClose`, before the
 * server waits for its requests) every waiting request is decided at once.
 */
export class DelayQueue implements DelayLine {
  readonly #lines = new WeakMap<CompiledLimit, Line>()
  /** Every waiter, for close(). */
  readonly #waiting = new Set<Waiter>()
  readonly #clock: (() => number) | undefined
  readonly #report: Reporter
  #closed = false

  constructor (clock: (() => number) | undefined, report: Reporter) {
    this.#clock = clock
    this.#report = report
  }

  behind (flow: Flow): boolean {
    const delay = flow.limit.delay as NonNullable<CompiledLimit['delay']>
    const line = this.#lines.get(flow.limit)
    if (line === undefined || line.size >= delay.queue) return false
    const identity = identityOf(flow.buckets)
    const waiting = line.byIdentity.get(identity)
    if (waiting === undefined) return false
    this.#join(flow, line, identity, waiting)
    return true
  }

  wait (flow: Flow, retryAfterMs: number): boolean {
    const delay = flow.limit.delay as NonNullable<CompiledLimit['delay']>
    const waiter = flow.waiter as Waiter | undefined
    if (waiter !== undefined) {
      if (!this.#closed && performance.now() + retryAfterMs <= waiter.deadline) {
        this.#schedule(waiter, retryAfterMs)
        return true
      }
      this.leave(flow)
      return false
    }
    if (this.#closed || retryAfterMs > delay.maxMs || clientGone(flow)) return false
    let line = this.#lines.get(flow.limit)
    if (line === undefined) {
      line = { size: 0, byIdentity: new Map() }
      this.#lines.set(flow.limit, line)
    }
    if (line.size >= delay.queue) return false
    const identity = identityOf(flow.buckets)
    const waiting = line.byIdentity.get(identity) ?? []
    this.#join(flow, line, identity, waiting)
    // an async store call may have let others of this identity queue up meanwhile: then it waits its turn
    const joined = flow.waiter as Waiter
    if (waiting[0] === joined) this.#schedule(joined, retryAfterMs)
    return true
  }

  passed (flow: Flow): number {
    const waiter = flow.waiter as Waiter
    const end = this.#clock === undefined ? performance.now() : flow.now as number
    this.leave(flow)
    this.#report.delayed(flow.limit)
    return Math.max(0, Math.round(end - waiter.start))
  }

  /** Takes a waiting flow out of the line (every caller knows it waits). */
  leave (flow: Flow): void {
    const waiter = flow.waiter as Waiter
    flow.waiter = undefined
    this.#remove(waiter)
  }

  close (): void {
    this.#closed = true
    const waiting = [...this.#waiting]
    for (const waiter of waiting) {
      clearTimeout(waiter.timer)
      waiter.timer = undefined
    }
    // decided again now: each gets its pass or its 429 (the line is closed, nothing waits again)
    for (const waiter of waiting) {
      if (waiter.flow.waiter === waiter) waiter.flow.decideAgain()
    }
  }

  #join (flow: Flow, line: Line, identity: string, waiting: Waiter[]): void {
    const waiter: Waiter = {
      flow,
      line,
      identity,
      start: this.#clock === undefined ? performance.now() : flow.now as number,
      deadline: performance.now() + (flow.limit.delay as NonNullable<CompiledLimit['delay']>).maxMs,
      timer: undefined,
      // leave() removes the listeners, so this runs only while the request waits (or is decided again)
      onClose: () => {
        if (!clientGone(flow)) return
        this.leave(flow)
        this.#report.delayAborted(flow.limit)
      }
    }
    flow.waiter = waiter
    if (waiting.length === 0) line.byIdentity.set(identity, waiting)
    waiting.push(waiter)
    line.size++
    this.#waiting.add(waiter)
    ;(flow.request as NonNullable<Flow['request']>).raw.once('close', waiter.onClose)
    ;(flow.reply as NonNullable<Flow['reply']>).raw.once('close', waiter.onClose)
  }

  #schedule (waiter: Waiter, ms: number): void {
    waiter.timer = setTimeout(() => {
      waiter.timer = undefined
      waiter.flow.decideAgain()
    }, ms)
  }

  #remove (waiter: Waiter): void {
    const { line, identity, flow } = waiter
    if (waiter.timer !== undefined) {
      clearTimeout(waiter.timer)
      waiter.timer = undefined
    }
    this.#waiting.delete(waiter)
    ;(flow.request as NonNullable<Flow['request']>).raw.removeListener('close', waiter.onClose)
    ;(flow.reply as NonNullable<Flow['reply']>).raw.removeListener('close', waiter.onClose)
    line.size--
    const waiting = line.byIdentity.get(identity) as Waiter[]
    const at = waiting.indexOf(waiter)
    waiting.splice(at, 1)
    if (waiting.length === 0) {
      line.byIdentity.delete(identity)
    } else if (at === 0 && !this.#closed) {
      // the next of this identity is decided at once (it may still have to wait its own turn)
      this.#schedule(waiting[0], 0)
    }
  }
}

/** The identity a line is kept by: every store key of the request under the limit. */
function identityOf (buckets: readonly StoreBucket[]): string {
  return buckets.length === 1 ? buckets[0].key : buckets.map((b) => b.key).join('\n')
}
