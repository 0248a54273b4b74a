import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { SlotGrant, Store } from '../core/store.js'
import type { BucketKind, CompiledLimit, CompiledSlots, LimitContext, RateLimitDecision, ResolvedOptions } from '../core/types.js'
import type { Reporter } from '../observe/report.js'
import { gone } from './delay.js'
import { Since } from './guard.js'
import type { StoreGuard } from './guard.js'
import { ipIdentity } from './identity.js'
import { encodePart } from './keys.js'
import { UNAVAILABLE_RETRY_S, humanAfter, unavailableResponse } from './response.js'

/**
 * Request decoration: the concurrency slot a request holds, released once when it ends. One at
 * most: a route is limited by one limit with `concurrency` (its own or `global`; not `hook()`).
 */
export const kSlots = Symbol('fastify-limiter.slots')

/** One slot a request holds. */
interface HeldSlot {
  readonly store: Store
  readonly key: string
  readonly token: string
  readonly limit: CompiledLimit
}

declare module 'fastify' {
  interface FastifyRequest {
    [kSlots]: HeldSlot | null
  }
}

/** What taking a slot needs of a request's attempt (hook.ts's Attempt). */
export interface SlotAttempt {
  readonly request: FastifyRequest
  readonly reply: FastifyReply
  readonly done: HookHandlerDoneFunction
  readonly limit: CompiledLimit
  readonly now: number | undefined
}

/** `Retry-After` of a concurrency 429, in seconds: a slot is usually free again soon. */
const RETRY_S = 1

/** What the concurrency limits of one hook work with. */
export interface SlotsSettings {
  readonly options: ResolvedOptions
  readonly report: Reporter
  /** The plugin's store guard: timeout, breaker and the local fallback store. */
  readonly guard: StoreGuard
  /** Tells `onExceeded` of a denial. */
  readonly notify: (request: FastifyRequest, context: LimitContext) => void
  /** The request was answered (or failed) here: it must leave the delay queue if it waits there. */
  readonly answered: (attempt: SlotAttempt) => void
}

/**
 * Concurrency limits (`concurrency: { ip?, user?, key? }`): at most that many requests of one
 * identity in flight on a route (or group) at once. A request takes a slot before its rates
 * are asked (a request refused here charges no rate) and gives it back, exactly once, when it
 * ends: on response, client abort, Fastify's request timeout or an error (`releaseSlots`).
 * On SQLite and Redis a slot is a lease of `leaseMs`, so the slots of a crashed app server come
 * back by themselves. Taking a slot goes through the store guard as a rate's consume does
 * (`storeTimeoutMs`, the breaker, `onStoreError`), so a stalled store never hangs a request.
 */
export class Slots {
  readonly #settings: SlotsSettings

  constructor (settings: SlotsSettings) {
    this.#settings = settings
  }

  /**
   * Takes a slot for the request under its limit's `concurrency`, then calls `next()`; or
   * answers the request (a 429 when the identity's slots are full, a 503 when the store failed
   * and the limit's `onStoreError` is `'deny'`). A request with no identity of a kind the limit
   * counts goes on without a slot.
   */
  take (attempt: SlotAttempt, next: () => void): void {
    const { request, limit } = attempt
    const { options, guard } = this.#settings
    const slots = limit.concurrency as NonNullable<CompiledLimit['concurrency']>
    let found: { kind: CompiledSlots, key: string } | undefined
    try {
      found = this.#identify(request, limit, slots)
    } catch (err) {
      this.#fail(attempt, err as Error)
      return
    }
    if (found === undefined) {
      next()
      return
    }
    const wanted: SlotRequest = { attempt, kind: found.kind, key: found.key, next }
    // the breaker is open: the store is not asked, as for rates
    if (!guard.admit()) {
      this.#degrade(wanted)
      return
    }
    const store = options.store
    let result: SlotGrant | Promise<SlotGrant>
    try {
      result = (store.acquire as NonNullable<Store['acquire']>)(found.key, found.kind.limit, options.leaseMs, attempt.now)
    } catch (err) {
      this.#failed(wanted, err)
      return
    }
    if (!(result instanceof Promise)) {
      guard.succeeded()
      this.#granted(wanted, store, result)
      return
    }
    let abandoned = false
    guard.watch(result, (grant) => {
      guard.succeeded()
      this.#granted(wanted, store, grant)
    }, (err: unknown) => {
      abandoned = true
      this.#failed(wanted, err)
    })
    // a slot the store grants after the request stopped waiting for it (timed out) is given
    // back at once: nobody holds it, and it would count until its lease ends
    result.then((grant) => {
      if (abandoned && grant.allowed) giveBack(this.#settings, request, { store, key: found.key, token: grant.token, limit })
    }, () => {})
  }

  /** The kind and store key of the request's slot: the key, else the user, else the IP (as for rates). */
  #identify (request: FastifyRequest, limit: CompiledLimit, slots: NonNullable<CompiledLimit['concurrency']>): { kind: CompiledSlots, key: string } | undefined {
    const { options } = this.#settings
    if (slots.key !== undefined) {
      const id = identityOf(request, limit, 'key', limit.keyFn as NonNullable<CompiledLimit['keyFn']>)
      if (id !== undefined) return { kind: slots.key, key: slots.key.head + encodePart(id) + SLOT_TAIL }
    }
    if (slots.user !== undefined) {
      const id = identityOf(request, limit, 'user', options.user)
      if (id !== undefined) return { kind: slots.user, key: slots.user.head + encodePart(id) + SLOT_TAIL }
    }
    if (slots.ip !== undefined) {
      return { kind: slots.ip, key: slots.ip.head + encodePart(ipIdentity(request.ip, options.ipv6Subnet)) + SLOT_TAIL }
    }
    return undefined
  }

  #granted (wanted: SlotRequest, store: Store, grant: SlotGrant): void {
    const { attempt, kind, key, next } = wanted
    const { request, limit } = attempt
    if (grant.allowed) {
      const slot: HeldSlot = { store, key, token: grant.token, limit }
      // the client went away while the slot was being taken: its end hooks have run already and
      // would never give it back, so it is given back now and the request dropped, charged nothing
      if (gone(attempt)) {
        giveBack(this.#settings, request, slot)
        this.#settings.answered(attempt)
        return
      }
      request[kSlots] = slot
      next()
      return
    }
    const now = attempt.now ?? Date.now()
    const decision: RateLimitDecision = {
      allowed: false,
      limit: kind.limit,
      remaining: 0,
      resetMs: now + RETRY_S * 1000,
      retryAfterMs: RETRY_S * 1000,
      bucket: kind.kind,
      rate: kind.text,
      inFlight: grant.inFlight
    }
    request.rateLimit = decision
    const context: LimitContext = {
      ...decision,
      statusCode: 429,
      retryAfter: RETRY_S,
      after: humanAfter(RETRY_S),
      route: limit.route,
      dryRun: limit.dryRun
    }
    this.#settings.notify(request, context)
    // dry run: told to onExceeded (context.dryRun), then on without a slot
    if (limit.dryRun) {
      next()
      return
    }
    this.#settings.report.concurrencyDenied(request, limit)
    let body: unknown
    try {
      body = limit.errorResponseBuilder(request, context)
    } catch (err) {
      this.#fail(attempt, err as Error)
      return
    }
    this.#settings.answered(attempt)
    if (limit.errorContentType !== undefined) attempt.reply.type(limit.errorContentType)
    attempt.reply.code(429).header('retry-after', RETRY_S).send(body)
  }

  /**
   * The store threw, rejected or timed out: counted and logged by the guard (once per burst).
   * A throw counts like a rejection towards the breaker (five in a row, or half the calls), not
   * as opening it at once as a throwing consume does: a slot store that throws at once (no
   * busy wait held the loop) is a broken call, not a stalled process.
   */
  #failed (wanted: SlotRequest, err: unknown): void {
    const { request, limit } = wanted.attempt
    this.#settings.report.storeError(request, limit, err)
    this.#settings.guard.failed(request, err, limit.onStoreError, 'async')
    this.#degrade(wanted)
  }

  /** Decides without the store, by the limit's `onStoreError`: the local fallback store, through, or 503. */
  #degrade (wanted: SlotRequest): void {
    const { attempt, kind, key, next } = wanted
    const { request, limit } = attempt
    const { report, guard, options } = this.#settings
    report.degraded(request, limit)
    if (limit.onStoreError === 'fallback') {
      const fallback = guard.fallback
      this.#granted(wanted, fallback, fallback.acquire(key, kind.limit, options.leaseMs, attempt.now))
    } else if (limit.onStoreError === 'allow') {
      next()
    } else {
      this.#settings.answered(attempt)
      attempt.reply.code(503).header('retry-after', UNAVAILABLE_RETRY_S).send(unavailableResponse())
    }
  }

  /** The request fails with `err` here. */
  #fail (attempt: SlotAttempt, err: Error): void {
    this.#settings.answered(attempt)
    attempt.done(err)
  }
}

/** A slot being taken: for whom, which kind and key, and what runs once it is held. */
interface SlotRequest {
  readonly attempt: SlotAttempt
  readonly kind: CompiledSlots
  readonly key: string
  readonly next: () => void
}

/** The end of a slot's store key: never the tail of a rate's bucket (`}:<code>:...`). */
const SLOT_TAIL = '}:inflight'

/**
 * The store key of the slots `limit` keeps for the (encoded) `identity` of a kind, when its
 * `concurrency` counts that kind: what `fastify.rateLimit.reset()` forgets besides buckets.
 */
export function slotKey (limit: CompiledLimit, kind: BucketKind, identity: string): string | undefined {
  const slots = limit.concurrency?.[kind]
  return slots === undefined ? undefined : slots.head + identity + SLOT_TAIL
}

/**
 * Gives back the slot the request holds, once: the hooks of every way a request ends call it
 * (onResponse, onRequestAbort, onTimeout, onError), and the first one releases. A release is
 * bounded by `storeTimeoutMs`; one that fails or times out is logged (once per burst) and
 * counted, never thrown: the lease expires by itself.
 */
export function releaseSlots (request: FastifyRequest, runtime: ReleaseRuntime): void {
  const slot = request[kSlots]
  if (slot === null) return
  request[kSlots] = null
  giveBack(runtime, request, slot)
}

/** What a release needs of the plugin's runtime. */
export interface ReleaseRuntime {
  readonly report: Reporter
  readonly guard: StoreGuard
}

function giveBack (runtime: ReleaseRuntime, request: FastifyRequest, slot: HeldSlot): void {
  let result: void | Promise<void>
  try {
    result = (slot.store.release as NonNullable<Store['release']>)(slot.key, slot.token)
  } catch (err) {
    failedRelease(runtime, request, slot, err)
    return
  }
  if (result instanceof Promise) runtime.guard.watch(result, ignore, (err: unknown) => failedRelease(runtime, request, slot, err))
}

function ignore (): void {}

/** A release failure is logged at most once per this many ms per registration (the others are counted). */
const RELEASE_LOG_EVERY_MS = 1000

/** When each registration (its guard) last logged a failed release, and how many it did not log since. */
const releaseLogs = new WeakMap<StoreGuard, { at: Since, suppressed: number }>()

function failedRelease (runtime: ReleaseRuntime, request: FastifyRequest, slot: HeldSlot, err: unknown): void {
  runtime.report.storeError(request, slot.limit, err)
  const seen = releaseLogs.get(runtime.guard)
  if (seen !== undefined && !seen.at.passed(RELEASE_LOG_EVERY_MS)) {
    seen.suppressed++
    return
  }
  releaseLogs.set(runtime.guard, { at: new Since(runtime.guard.clock), suppressed: 0 })
  request.log.error({ err, suppressed: seen?.suppressed ?? 0 }, 'fastify-limiter: releasing a concurrency slot failed (its lease expires by itself)')
}

function identityOf (request: FastifyRequest, limit: CompiledLimit, what: BucketKind, resolver: (request: FastifyRequest) => unknown): string | undefined {
  let value: unknown
  try {
    value = resolver(request)
  } catch (err) {
    throw new errors.RESOLVER_FAILED(limit.where, what, err instanceof Error ? err.message : formatValue(err), { cause: err })
  }
  // the same rules as the rates' identities (bucket.ts): '' is none
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  throw new errors.INVALID_IDENTITY(limit.where, what, formatValue(value))
}
