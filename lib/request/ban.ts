import { banGateAlgorithm } from '../../algorithms/ban.js'
import type { BanRule } from '../core/algorithm.js'
import type { StoreBucket, StoreDecision } from '../core/store.js'
import type { CompiledBan, ResolvedBucket } from '../core/types.js'
import type { Flow } from './flow.js'
import { locate } from './bucket.js'

/**
 * Bans with backoff (the `ban` option) in decide: only limits with a ban come here.
 * - `withGates`: the store call gets one gate bucket per identity, first (algorithms/ban.ts): it
 *   denies while the identity is banned, and is never written;
 * - `gateIndex`: a decision made by a gate is the identity banned;
 * - `strikeRule`: a rate's denial is counted by `store.strike()`, which says whether the identity
 *   is (now) banned and whether this request started the ban (respond.ts calls `onBan` then);
 *   with `extend`, a gate's denial is struck too, and starts the ban again.
 */

/** The end of a ban state's store key: never the tail of a bucket (`}:<code>:...`) nor of a slot (`}:inflight`). */
export const BAN_TAIL = '}:ban'

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

/** The gate that made a decision of a limit with a ban (its identity's index), or -1 for a rate. */
export function gateIndex (flow: Flow, d: StoreDecision): number {
  return d.index < flow.resolved.length ? d.index : -1
}

/**
 * The key and rule of the strike a denial makes: the identity and window of the rate that
 * denied, or, for a gate's denial (a banned request, struck with `extend`), the identity of the
 * gate and the window of its kind's first rate; and the longest window of the identity's rates,
 * for which the count is kept (a denial by that rate still counts this strike).
 */
export function strikeRule (flow: Flow): { key: string, rule: BanRule } {
  const ban = flow.limit.ban as CompiledBan
  const { bucket, rate } = locate(flow.resolved, (flow.answer as StoreDecision).index, true)
  const { rates } = bucket.kind
  // a few rates, on denials only (a strike is a store call already)
  let longestWindowMs = 0
  for (let i = 0; i < rates.length; i++) longestWindowMs = Math.max(longestWindowMs, rates[i].params.windowMs)
  const rule = { after: ban.after, forMs: ban.forMs, backoffMilli: ban.backoffMilli, maxMs: ban.maxMs, windowMs: rate.params.windowMs, longestWindowMs, extend: ban.extend }
  return { key: banKey(bucket.kind, bucket.identity), rule }
}
