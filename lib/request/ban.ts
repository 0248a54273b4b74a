import type { FastifyReply, FastifyRequest } from 'fastify'
import { banGateAlgorithm } from '../../algorithms/ban.js'
import type { BanStrike, Store, StoreBucket, StoreDecision } from '../core/store.js'
import type { Applied, CompiledBan, CompiledLimit, LimitContext, RateLimitDecision, ResolvedBucket } from '../core/types.js'
import { kApplied } from '../core/symbols.js'
import { isThenable } from './bucket.js'
import type { Runtime } from './runtime.js'

/**
 * Bans with backoff (the `ban` option), on the request path. Only limits with a ban come here;
 * the hook calls in at a few points, each behind one `limit.ban !== undefined`:
 *
 * - `withGates`: the store call gets one gate bucket per identity, first (algorithms/ban.ts):
 *   it denies while the identity is banned, and is never written;
 * - `rateIndex`: a decision's index among the rates; a gate's denial marks the attempt banned;
 * - `Bans.hold`: before a denial is answered, a rate's denial is counted by `store.strike()`,
 *   which tells whether the identity is (now) banned and whether this request started the ban;
 * - `Bans.told`: counts bans and calls `onBan` once per ban.
 */

/** The end of a ban state's store key: never the tail of a bucket (`}:<code>:...`) nor of a slot (`}:inflight`). */
export const BAN_TAIL = '}:ban'

/** Where an attempt is with its ban: not looked at yet, counted (not banned), banned, banned by this request. */
export const UNCHECKED = 0
export const STRUCK = 1
export const BANNED = 2
export const STARTED = 3

/** What the ban steps need of the hook's attempt. */
export interface BanAttempt {
  readonly request: FastifyRequest
  readonly reply: FastifyReply
  readonly limit: CompiledLimit
  resolved: ResolvedBucket[]
  now: number | undefined
  fallback: boolean
  /** UNCHECKED, STRUCK, BANNED or STARTED. */
  ban: number
}

/** The ban state's key of one identity of one limit: the head and identity of its buckets, so the same Cluster slot. */
export function banKey (kind: ResolvedBucket['kind'], identity: string): string {
  return kind.head + identity + BAN_TAIL
}

/** The gates of `resolved` (one per identity), then `buckets`: what the store decides on a limit with a ban. */
export function withGates (resolved: readonly ResolvedBucket[], buckets: readonly StoreBucket[]): StoreBucket[] {
  const all: StoreBucket[] = new Array(resolved.length + buckets.length)
  for (let i = 0; i < resolved.length; i++) {
    const { kind, identity } = resolved[i]
    // the gate reports the limit of the kind's first rate when it denies (headers of a ban)
    all[i] = { key: banKey(kind, identity), algorithm: banGateAlgorithm, params: kind.rates[0].params }
  }
  for (let i = 0; i < buckets.length; i++) all[resolved.length + i] = buckets[i]
  return all
}

/**
 * The index, among the rates of `resolved` in turn, that the hook maps the decision to. A gate's
 * denial (an index before the rates) marks the attempt banned and maps to that identity's first rate.
 */
export function rateIndex (attempt: BanAttempt, d: StoreDecision): number {
  const gates = attempt.resolved.length
  if (d.index >= gates) return d.index - gates
  attempt.ban = BANNED
  let index = 0
  for (let i = 0; i < d.index; i++) index += attempt.resolved[i].kind.rates.length
  return index
}

/**
 * The decision of a banned request: denied until the ban ends (a rate that denies for longer
 * is told after the ban, with an ordinary 429: a ban never lengthens what the rate says).
 */
function banish (decision: RateLimitDecision, until: number, now: number): void {
  decision.banned = true
  decision.remaining = 0
  decision.retryAfterMs = until - now
  decision.resetMs = until
}

/** The ban steps of one registration's hook. `answer` goes on with the denial (the hook's `deny`). */
export class Bans {
  readonly #runtime: Runtime
  readonly #answer: (attempt: BanAttempt, decision: RateLimitDecision, blocked: boolean) => void

  constructor (runtime: Runtime, answer: (attempt: BanAttempt, decision: RateLimitDecision, blocked: boolean) => void) {
    this.#runtime = runtime
    this.#answer = answer
  }

  /**
   * Before a denial is answered. A gate's denial is a ban: answered at once (false). A rate's
   * denial is counted by the store's strike first (true: `answer` is called once it is known);
   * a strike that fails or times out leaves the request its ordinary 429.
   */
  hold (attempt: BanAttempt, decision: RateLimitDecision, blocked: boolean): boolean {
    if (attempt.ban !== UNCHECKED) {
      // a gate's denial already says until when (banish() ran for a strike's)
      if (attempt.ban >= BANNED) decision.banned = true
      return false
    }
    const { request, limit } = attempt
    const { guard, report, options } = this.#runtime
    const applied = request[kApplied] as Applied
    const ban = limit.ban as CompiledBan
    let store: Store = options.store
    if (attempt.fallback || !guard.admit()) {
      // the store is out of the way: the local fallback counts, as it decides, or nobody does
      if (limit.onStoreError !== 'fallback') {
        attempt.ban = STRUCK
        return false
      }
      store = guard.fallback
    }
    const rule = { after: ban.after, forMs: ban.forMs, backoffMilli: ban.backoffMilli, maxMs: ban.maxMs, windowMs: applied.rate.params.windowMs }
    const now = applied.now
    const done = (strike: BanStrike): void => {
      if (strike.until > now) {
        attempt.ban = strike.started ? STARTED : BANNED
        banish(decision, strike.until, now)
      } else {
        attempt.ban = STRUCK
      }
      this.#answer(attempt, decision, blocked)
    }
    const failed = (err: unknown, how: 'async' | 'sync'): void => {
      report.storeError(request, limit, err)
      guard.failed(request, err, limit.onStoreError, how)
      attempt.ban = STRUCK
      this.#answer(attempt, decision, blocked)
    }
    let result: BanStrike | PromiseLike<BanStrike>
    try {
      result = (store.strike as NonNullable<Store['strike']>)(banKey(applied.kind, applied.identity), rule, attempt.now)
    } catch (err) {
      failed(err, 'sync')
      return true
    }
    if (isThenable(result)) {
      guard.watch(result, (strike) => {
        guard.succeeded()
        done(strike)
      }, (err) => failed(err, 'async'))
    } else {
      done(result)
    }
    return true
  }

  /** A denial's context is known: count a ban, and call `onBan` when this request started it. */
  told (attempt: BanAttempt, denial: LimitContext): void {
    if (attempt.ban < BANNED) return
    const { request, limit } = attempt
    this.#runtime.report.banned(request, limit, attempt.ban === STARTED)
    if (attempt.ban !== STARTED) return
    const { onBan } = limit.ban as CompiledBan
    if (onBan === undefined) return
    try {
      const result: unknown = onBan(request, denial)
      if (isThenable(result)) result.then(undefined, (err: unknown) => request.log.error({ err }, 'fastify-limiter: onBan failed'))
    } catch (err) {
      request.log.error({ err }, 'fastify-limiter: onBan failed')
    }
  }
}
