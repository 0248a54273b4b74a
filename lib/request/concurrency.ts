import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { SlotGrant, Store } from '../core/store.js'
import type { BucketKind, CompiledLimit, CompiledSlots, LimitContext, RateLimitDecision, ResolvedOptions } from '../core/types.js'
import type { Reporter } from '../observe/report.js'
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

/**
 * Concurrency limits (`concurrency: { ip?, user?, key? }`): at most that many requests of one
 * identity in flight on a route (or group) at once. A request takes a slot before its rates
 * are asked (a request refused here charges no rate) and gives it back, exactly once, when it
 * ends: on response, client abort, Fastify's request timeout or an error (`releaseSlots`).
 * On SQLite and Redis a slot is a lease of `leaseMs`, so the slots of a crashed app server come
 * back by themselves.
 */
export class Slots {
  readonly #options: ResolvedOptions
  readonly #report: Reporter
  readonly #fallback: Store
  readonly #notify: (request: FastifyRequest, context: LimitContext) => void

  constructor (options: ResolvedOptions, report: Reporter, fallback: Store, notify: (request: FastifyRequest, context: LimitContext) => void) {
    this.#options = options
    this.#report = report
    this.#fallback = fallback
    this.#notify = notify
  }

  /**
   * Takes a slot for the request under its limit's `concurrency`, then calls `next()`; or
   * answers the request (a 429 when the identity's slots are full, a 503 when the store failed
   * and the limit's `onStoreError` is `'deny'`). A request with no identity of a kind the limit
   * counts goes on without a slot.
   */
  take (attempt: SlotAttempt, next: () => void): void {
    const { request, limit } = attempt
    const slots = limit.concurrency as NonNullable<CompiledLimit['concurrency']>
    let found: { kind: CompiledSlots, key: string } | undefined
    try {
      found = this.#identify(request, limit, slots)
    } catch (err) {
      attempt.done(err as Error)
      return
    }
    if (found === undefined) {
      next()
      return
    }
    const wanted: SlotRequest = { attempt, kind: found.kind, key: found.key, next }
    const store = this.#options.store
    let result: SlotGrant | Promise<SlotGrant>
    try {
      result = (store.acquire as NonNullable<Store['acquire']>)(found.key, found.kind.limit, this.#options.leaseMs, attempt.now)
    } catch (err) {
      this.#failed(wanted, err)
      return
    }
    if (result instanceof Promise) {
      result.then((g) => this.#granted(wanted, store, g), (err: unknown) => this.#failed(wanted, err))
    } else {
      this.#granted(wanted, store, result)
    }
  }

  /** The kind and store key of the request's slot: the key, else the user, else the IP (as for rates). */
  #identify (request: FastifyRequest, limit: CompiledLimit, slots: NonNullable<CompiledLimit['concurrency']>): { kind: CompiledSlots, key: string } | undefined {
    if (slots.key !== undefined) {
      const id = identityOf(request, limit, 'key', limit.keyFn as NonNullable<CompiledLimit['keyFn']>)
      if (id !== undefined) return { kind: slots.key, key: slots.key.head + encodePart(id) + SLOT_TAIL }
    }
    if (slots.user !== undefined) {
      const id = identityOf(request, limit, 'user', this.#options.user)
      if (id !== undefined) return { kind: slots.user, key: slots.user.head + encodePart(id) + SLOT_TAIL }
    }
    if (slots.ip !== undefined) {
      return { kind: slots.ip, key: slots.ip.head + encodePart(ipIdentity(request.ip, this.#options.ipv6Subnet)) + SLOT_TAIL }
    }
    return undefined
  }

  #granted (wanted: SlotRequest, store: Store, grant: SlotGrant): void {
    const { attempt, kind, key, next } = wanted
    const { request, limit } = attempt
    if (grant.allowed) {
      request[kSlots] = { store, key, token: grant.token, limit }
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
    this.#notify(request, context)
    // dry run: told to onExceeded (context.dryRun), then on without a slot
    if (limit.dryRun) {
      next()
      return
    }
    this.#report.concurrencyDenied(request, limit)
    let body: unknown
    try {
      body = limit.errorResponseBuilder(request, context)
    } catch (err) {
      attempt.done(err as Error)
      return
    }
    if (limit.errorContentType !== undefined) attempt.reply.type(limit.errorContentType)
    attempt.reply.code(429).header('retry-after', RETRY_S).send(body)
  }

  /** The store failed: the limit's `onStoreError` decides (the local fallback store, through, or 503). */
  #failed (wanted: SlotRequest, err: unknown): void {
    const { attempt, kind, key, next } = wanted
    const { request, limit } = attempt
    this.#report.storeError(request, limit, err)
    this.#report.degraded(request, limit)
    request.log.error({ err }, 'fastify-limiter: taking a concurrency slot failed')
    if (limit.onStoreError === 'fallback') {
      const fallback = this.#fallback
      this.#granted(wanted, fallback, (fallback.acquire as NonNullable<Store['acquire']>)(key, kind.limit, this.#options.leaseMs, attempt.now) as SlotGrant)
    } else if (limit.onStoreError === 'allow') {
      next()
    } else {
      attempt.reply.code(503).header('retry-after', UNAVAILABLE_RETRY_S).send(unavailableResponse())
    }
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
 * Gives back the slot the request holds, once: the hooks of every way a request ends call it
 * (onResponse, onRequestAbort, onTimeout, onError), and the first one releases. A release
 * that fails is logged; the lease expires by itself.
 */
export function releaseSlots (request: FastifyRequest, report: Reporter): void {
  const slot = request[kSlots]
  if (slot === null) return
  request[kSlots] = null
  let result: void | Promise<void>
  try {
    result = (slot.store.release as NonNullable<Store['release']>)(slot.key, slot.token)
  } catch (err) {
    failedRelease(request, report, slot, err)
    return
  }
  if (result instanceof Promise) result.catch((err: unknown) => failedRelease(request, report, slot, err))
}

function failedRelease (request: FastifyRequest, report: Reporter, slot: HeldSlot, err: unknown): void {
  report.storeError(request, slot.limit, err)
  request.log.error({ err }, 'fastify-limiter: releasing a concurrency slot failed (its lease expires by itself)')
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
