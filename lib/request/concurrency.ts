import type { SlotGrant } from '../core/store.js'
import type { BucketKind, CompiledLimit, LimitContext, RateLimitDecision } from '../core/types.js'
import { ignore } from './guard.js'
import type { Caller } from './guard.js'
import { DROPPED, SLOTS_FULL, clientGone } from './flow.js'
import type { Flow, Runtime } from './flow.js'
import { humanAfter } from './response.js'

/**
 * Concurrency limits (`concurrency: { ip?, user?, key? }`): at most that many requests of one
 * identity in flight on a route (or group) at once. The slot is asked for in decide, before the
 * rates (a request refused here charges no rate), through the store guard as a rate's consume
 * is; it is given back exactly once when the request ends (settle.ts), or at once when the
 * request is answered before its handler (a 429, a 503) or starts waiting in the delay line.
 * On SQLite and Redis a slot is a lease of `leaseMs`, so the slots of a crashed app server come
 * back by themselves.
 */

/** The end of a slot's store key: never the tail of a rate's bucket (`}:<code>:...`). */
export const SLOT_TAIL = '}:inflight'

/** `Retry-After` of a concurrency 429, in seconds: a slot is usually free again soon. */
const RETRY_S = 1

/**
 * The store key of the slots `limit` keeps for the (encoded) `identity` of a kind, when its
 * `concurrency` counts that kind: what `fastify.rateLimit.reset()` forgets besides buckets.
 */
export function slotKey (limit: CompiledLimit, kind: BucketKind, identity: string): string | undefined {
  const slots = limit.concurrency?.[kind]
  return slots === undefined ? undefined : slots.head + identity + SLOT_TAIL
}

/** The store's answer to the flow's slot: held, refused (SLOTS_FULL; a dry run goes on without it), or given back at once when the client went away meanwhile. */
export function granted (flow: Flow, grant: SlotGrant, fallback = false): void {
  const slot = flow.slot as NonNullable<Flow['slot']>
  if (grant.allowed) {
    flow.held = { key: slot.key, token: grant.token, fallback }
    // the client went away while the slot was being taken: its end hooks have run already and
    // would never give it back, so it is given back now and the request dropped, charged nothing
    if (clientGone(flow)) {
      releaseSlot(flow)
      flow.outcome = DROPPED
    }
    return
  }
  flow.grant = grant
  if (!flow.limit.dryRun) flow.outcome = SLOTS_FULL
}

/** Gives back the slot the flow holds, if any, once. */
export function releaseSlot (flow: Flow): void {
  const held = flow.held
  if (held === undefined) return
  flow.held = undefined
  giveBack(flow.engine.runtime, flow, held)
}

/** Gives back a slot: on the fallback store at once, else through the store guard (a failure is logged, never thrown: the lease expires by itself). */
export function giveBack (runtime: Runtime, on: Pick<Caller, 'log' | 'limit'>, held: NonNullable<Flow['held']>): void {
  if (held.fallback) {
    runtime.guard.fallback.release(held.key, held.token)
    return
  }
  runtime.guard.run({ log: on.log, limit: on.limit, answered: ignore, unanswered: ignore }, 'release', held.key, held.token)
}

/** The decision and 429 context of a request refused by its concurrency limit. */
export function slotDenial (flow: Flow): { decision: RateLimitDecision, context: LimitContext } {
  const { limit } = flow
  const kind = (flow.slot as NonNullable<Flow['slot']>).kind
  const now = flow.now ?? Date.now()
  const decision: RateLimitDecision = {
    allowed: false,
    limit: kind.limit,
    remaining: 0,
    resetMs: now + RETRY_S * 1000,
    retryAfterMs: RETRY_S * 1000,
    bucket: kind.kind,
    rate: kind.text,
    inFlight: (flow.grant as SlotGrant).inFlight
  }
  const context: LimitContext = { ...decision, statusCode: limit.statusCode, retryAfter: RETRY_S, after: humanAfter(RETRY_S), route: limit.route, dryRun: limit.dryRun }
  return { decision, context }
}
