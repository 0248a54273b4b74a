import type { FastifyBaseLogger } from 'fastify'
import { MemoryStore } from '../../stores/memory.js'
import type { DecisionSink, SlotGrant, Store, StoreBucket, StoreDecision } from '../core/store.js'
import { consumeTo } from '../core/store.js'
import type { CompiledLimit, StoreErrorMode } from '../core/types.js'
import type { Reporter } from '../observe/report.js'
import { BREAKER_FAILURES, BREAKER_MS, Breaker } from './breaker.js'
import { monotonic } from './clock.js'
import { Deadlines } from './deadlines.js'
import type { Cohort, Timed } from './deadlines.js'
import { LogThrottle, causeOf } from './log-throttle.js'

/** The store methods the request path calls, each through `StoreGuard.run`. */
export type StoreOp = 'consume' | 'peek' | 'acquire' | 'strike' | 'release' | 'refund' | 'charge'

/** Who waits for a store call: its answer or its failure, exactly one of them, once. */
export interface CallTarget<T = unknown> {
  answered (value: T): void
  unanswered (err: unknown): void
}

/** A store call's target, and what its failure is logged with and reported for. */
export interface Caller<T = unknown> extends CallTarget<T> {
  readonly log: FastifyBaseLogger
  readonly limit: CompiledLimit
}

/** How a failure counts towards the breaker: it held the event loop (opens it at once), it is one failure, or it is not the store's (a bad clock reading). */
export type FailureWeight = 'held' | 'one' | 'none'

/**
 * One asynchronous store call: settled by its reply or by its turn's deadline, whichever is first.
 * It is also the store's sink (`DecisionSink`), so that a store with the fast path (`consumeTo`)
 * answers it directly, without a promise.
 */
class GuardedCall<T> implements DecisionSink<T>, Timed {
  done = false
  cohort: Cohort | undefined = undefined
  /**
   * Undefined once the call is settled: an answered call keeps nothing alive (its caller holds the
   * request; measured: +15 µs per request on Redis while answered calls held it until their deadline).
   */
  #caller: Caller<T> | undefined
  readonly #guard: StoreGuard
  readonly #op: StoreOp
  /** The slot's key, for an `acquire`. */
  readonly #key: unknown

  constructor (guard: StoreGuard, caller: Caller<T>, op: StoreOp, key: unknown) {
    this.#guard = guard
    this.#caller = caller
    this.#op = op
    this.#key = key
  }

  decided (value: T): void {
    if (this.done) {
      this.#late(value)
      return
    }
    const caller = this.#take()
    this.#guard.deadlines.settled(this)
    this.#guard.breaker.succeeded()
    caller.answered(value)
  }

  failed (err: unknown): void {
    if (this.done) {
      this.#caller = undefined
      return
    }
    const caller = this.#take()
    this.#guard.deadlines.settled(this)
    this.#guard.failure(caller, this.#op, err, heldLoop(err) ? 'held' : 'one')
    caller.unanswered(err)
  }

  /** @internal for Deadlines, which has marked the call done and taken its cohort out of the queue */
  timeout (err: Error): void {
    const caller = this.#caller as Caller<T>
    // a slot granted after its request stopped waiting must still be given back (see #late)
    if (this.#op !== 'acquire') this.#caller = undefined
    this.#guard.failure(caller, this.#op, err, 'one')
    caller.unanswered(err)
  }

  /**
   * An answer after the timeout: ignored, but a slot the store granted meanwhile is given back at
   * once (nobody holds it, and it would count until its lease ends).
   */
  #late (value: T): void {
    const caller = this.#caller
    if (caller === undefined) return
    this.#caller = undefined
    const grant = value as unknown as SlotGrant
    if (grant.allowed) this.#guard.run({ log: caller.log, limit: caller.limit, answered: ignore, unanswered: ignore }, 'release', this.#key, grant.token)
  }

  #take (): Caller<T> {
    this.done = true
    const caller = this.#caller as Caller<T>
    this.#caller = undefined
    return caller
  }
}

/** A promise bounded by the deadlines alone: no breaker, no report, no log. */
class BoundCall<T> implements Timed {
  done = false
  cohort: Cohort | undefined = undefined
  readonly #deadlines: Deadlines
  readonly #resolve: (value: T) => void
  readonly #reject: (err: unknown) => void

  constructor (deadlines: Deadlines, resolve: (value: T) => void, reject: (err: unknown) => void) {
    this.#deadlines = deadlines
    this.#resolve = resolve
    this.#reject = reject
  }

  settle (ok: boolean, value: unknown): void {
    if (this.done) return
    this.done = true
    this.#deadlines.settled(this)
    if (ok) this.#resolve(value as T)
    else this.#reject(value)
  }

  timeout (err: Error): void {
    this.#reject(err)
  }
}

/**
 * Keeps a failing store from taking requests down with it. Every store call of the request path
 * goes through `run`, the one guarded call: it is bounded by `storeTimeoutMs` (deadlines.ts), its
 * failures feed the breaker (breaker.ts), are counted and logged once per cause and second
 * (log-throttle.ts), and its answer or failure reaches the caller exactly once. The guard also
 * holds the local MemoryStore that `onStoreError: 'fallback'` decides on.
 */
export class StoreGuard {
  readonly store: Store
  readonly deadlines: Deadlines
  readonly breaker: Breaker
  /** The injected clock, if any: the fallback store decides on it, and it may end durations early. */
  readonly clock: (() => number) | undefined
  readonly #report: Reporter
  readonly #throttle: LogThrottle
  #fallback: MemoryStore | undefined
  /** A store's promise-free way (the Redis store's), when it has one. */
  readonly #direct: Store[typeof consumeTo]
  /**
   * A synchronous call that threw after holding the loop this long opens the breaker at once (a
   * lock wait of SQLite's busy timeout); 0 for the memory store, whose calls are never timed.
   */
  readonly #heldMs: number

  constructor (options: { store: Store, storeTimeoutMs: number, clock: (() => number) | undefined }, report: Reporter) {
    const { store, storeTimeoutMs, clock } = options
    this.store = store
    this.clock = clock
    this.deadlines = new Deadlines(storeTimeoutMs)
    this.breaker = new Breaker(clock)
    this.#report = report
    this.#throttle = new LogThrottle(clock)
    this.#direct = store[consumeTo]
    const busy = (store as { busyTimeoutMs?: unknown }).busyTimeoutMs
    this.#heldMs = store instanceof MemoryStore ? 0 : typeof busy === 'number' ? Math.min(busy, storeTimeoutMs) : storeTimeoutMs
  }

  /** The local store of `'fallback'`, made on first use: most apps never need it (nor its sweep timer). */
  get fallback (): MemoryStore {
    this.#fallback ??= new MemoryStore(this.clock === undefined ? {} : { clock: this.clock })
    return this.#fallback
  }

  /** Whether a decision may ask the store now (the breaker is closed, or lets this probe through). */
  admit (): boolean {
    return this.breaker.admit()
  }

  /**
   * Calls the store's `op` with the arguments given, as the store contract names them, and hands
   * the caller its answer, or its failure (a throw, a rejection, no answer within the timeout)
   * once that is counted and logged. A synchronous store answers synchronously.
   */
  run<T> (caller: Caller<T>, op: StoreOp, a: unknown, b?: unknown, c?: unknown, d?: unknown): void {
    const store = this.store as unknown as Record<StoreOp, (...args: unknown[]) => unknown>
    if (op === 'consume' && this.#direct !== undefined) {
      const call = new GuardedCall<T>(this, caller, op, undefined)
      this.deadlines.add(call)
      this.#direct.call(this.store, a as never, b as number, c as number | undefined, call as unknown as DecisionSink<StoreDecision>)
      return
    }
    const started = this.#heldMs === 0 ? 0 : monotonic()
    let result: unknown
    try {
      // consume by name: the hot path's call site stays monomorphic
      result = op === 'consume' ? this.store.consume(a as StoreBucket[], b as number, c as number | undefined) : store[op](a, b, c, d)
    } catch (err) {
      this.failure(caller, op, err, this.#heldMs !== 0 && monotonic() - started >= this.#heldMs ? 'held' : 'one')
      caller.unanswered(err)
      return
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<T>).then === 'function') {
      const call = new GuardedCall<T>(this, caller, op, a)
      this.deadlines.add(call)
      ;(result as PromiseLike<T>).then((value) => call.decided(value), (err: unknown) => call.failed(err))
      return
    }
    this.breaker.succeeded()
    caller.answered(result as T)
  }

  /** A promise of `pending`, rejected with FST_LIMITER_STORE_TIMEOUT when it takes longer than the timeout (off the request path: `stats()`). */
  bound<T> (pending: PromiseLike<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const call = new BoundCall<T>(this.deadlines, resolve, reject)
      this.deadlines.add(call)
      pending.then((value) => call.settle(true, value), (err: unknown) => call.settle(false, err))
    })
  }

  /**
   * A failed store call (or, with weight `'none'`, a failure that is not the store's: a bad clock
   * reading): counted for the limit, fed to the breaker, logged once per cause and second. The
   * caller hears of it from `run`; a failure found outside `run` is the finder's to act on.
   */
  failure (caller: Pick<Caller, 'log' | 'limit'>, op: StoreOp, err: unknown, weight: FailureWeight): void {
    this.#report.storeError(caller.limit)
    if (weight !== 'none') this.breaker.failed(weight === 'held')
    const suppressed = this.#throttle.admit(`${op}:${causeOf(err)}`)
    if (suppressed !== undefined) this.#log(caller, op, err, suppressed)
  }

  #log (caller: Pick<Caller, 'log' | 'limit'>, op: StoreOp, err: unknown, suppressed: number): void {
    const mode = caller.limit.onStoreError
    if (op === 'release') {
      caller.log.error({ err, suppressed }, 'fastify-limiter: releasing a concurrency slot failed (its lease expires by itself)')
    } else if (op === 'refund' || op === 'charge') {
      caller.log.warn({ err, suppressed }, `fastify-limiter: ${op === 'refund' ? 'a refund' : 'charging a settled cost'} failed; the request stays counted at what it was charged`)
    } else {
      caller.log.error({ err, onStoreError: mode, suppressed, breaker: this.breaker.state },
        `fastify-limiter: the rate-limit store failed (${modeText(mode)} for ${BREAKER_MS} ms before trying it again once it fails ${BREAKER_FAILURES} times in a row or on half of its calls)`)
    }
  }

  /** Releases the fallback store's sweep timer; calls in flight get their answer or their timeout. */
  close (): void {
    this.#fallback?.close()
  }
}

/** A callback whose answer nobody waits for (a release, a late grant given back, a flow's `end` until its caller sets it). */
export function ignore (): void {}

/**
 * An asynchronous failure that held the event loop on its way: SQLite's group commit waited its
 * whole busy timeout for a lock (in the turn that committed the batch), as a synchronous call
 * that throws after its busy timeout does.
 */
function heldLoop (err: unknown): boolean {
  return err !== null && typeof err === 'object' && (err as { code?: unknown }).code === 'FST_LIMITER_SQLITE_BUSY'
}

function modeText (mode: StoreErrorMode): string {
  return mode === 'fallback' ? 'deciding on the local memory store' : mode === 'allow' ? 'letting requests through' : 'answering 503'
}
