import type { FastifyRequest } from 'fastify'
import { MemoryStore } from '../../stores/memory.js'
import type { StoreDecision } from '../core/store.js'
import { errors } from '../core/errors.js'
import type { StoreErrorMode } from '../core/types.js'

/** After a failure, requests skip the store (and follow their mode) for this long, then try it again. */
export const BREAKER_MS = 1000

/** A failure cause is logged at most once per this many ms. */
const LOG_EVERY_MS = 1000

/** The most distinct causes remembered for that. */
const MAX_CAUSES = 100

/**
 * Keeps a failing store from taking requests down with it:
 * - bounds every asynchronous store call by `timeoutMs` (a synchronous one is bounded by the
 *   store itself, such as SQLite's busy timeout);
 * - after a failure opens a breaker for BREAKER_MS, during which requests do not wait for the
 *   store at all; then the next request tries it again, so recovery is automatic;
 * - logs each cause at most once per second, with the count of those it did not log;
 * - holds the local MemoryStore that `'fallback'` decides on.
 */
export class StoreGuard {
  readonly timeoutMs: number
  /** This app server's clock: the injected one, else Date.now (the breaker and the denial cache run on it). */
  readonly now: () => number
  #fallback: MemoryStore | undefined
  #openUntil = 0
  readonly #logged = new Map<string, { at: number, suppressed: number }>()

  constructor (timeoutMs: number, now: () => number) {
    this.timeoutMs = timeoutMs
    this.now = now
  }

  /** The local store of `'fallback'`, made on first use: most apps never need it (nor its sweep timer). */
  get fallback (): MemoryStore {
    this.#fallback ??= new MemoryStore({ clock: this.now })
    return this.#fallback
  }

  /** True while the breaker is open: the store failed less than BREAKER_MS ago. */
  get open (): boolean {
    // the common case (never failed, or closed again) reads no clock
    if (this.#openUntil === 0) return false
    if (this.#openUntil > this.now()) return true
    this.#openUntil = 0
    return false
  }

  /** The store's answer, or a rejection when it takes longer than `timeoutMs`. */
  bound<T = StoreDecision> (pending: PromiseLike<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new errors.STORE_TIMEOUT(this.timeoutMs)), this.timeoutMs)
      pending.then((value) => {
        clearTimeout(timer)
        resolve(value)
      }, (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  /** Records a failure: opens the breaker and logs the cause unless it was logged within a second. */
  failed (request: FastifyRequest, err: unknown, mode: StoreErrorMode): void {
    const now = this.now()
    this.#openUntil = now + BREAKER_MS
    const cause = causeOf(err)
    const seen = this.#logged.get(cause)
    if (seen !== undefined && now - seen.at < LOG_EVERY_MS) {
      seen.suppressed++
      return
    }
    if (seen === undefined && this.#logged.size >= MAX_CAUSES) this.#logged.clear()
    this.#logged.set(cause, { at: now, suppressed: 0 })
    request.log.error({ err, onStoreError: mode, suppressed: seen?.suppressed ?? 0 },
      `fastify-limiter: the rate-limit store failed (${mode === 'fallback' ? 'deciding on the local memory store' : mode === 'allow' ? 'letting requests through' : 'answering 503'} for ${BREAKER_MS} ms before trying it again)`)
  }

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
