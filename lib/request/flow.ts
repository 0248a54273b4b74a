import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { SlotGrant, StoreBucket, StoreDecision } from '../core/store.js'
import type { CompiledLimit, CompiledSlots, RateLimitDecision, ResolvedBucket, ResolvedOptions } from '../core/types.js'
import type { Reporter } from '../observe/report.js'
import type { DenialCache } from './denials.js'
import { ignore } from './guard.js'
import type { Caller, StoreGuard } from './guard.js'
import type { Resets } from './resets.js'
import type { CredentialsWarning } from './warnings.js'

/**
 * One decision of one limit: what the four stages of lib/request fill in, in order. The HTTP
 * hook makes one per request and limit; `fastify.rateLimit.consume()` and `peek()` make one per
 * call. A stage reads what the stages before it wrote and writes its own fields; no stage calls
 * back into another (the engine, engine.ts, runs them in turn and resumes a flow after a wait).
 */

/** Who a flow decides for: a request in its hook, `consume()`, `peek()`, or only its buckets (`reset(request)`). */
export const HTTP = 0
export const CONSUME = 1
export const PEEK = 2
export const RESOLVE_ONLY = 3
export type FlowMode = typeof HTTP | typeof CONSUME | typeof PEEK | typeof RESOLVE_ONLY

/** The stage a flow is at. */
export const RESOLVING = 0
export const DECIDING = 1
/** Decided: respond acts on the outcome (the flow never runs again from here). */
export const RESPONDING = 2
/** Answered, or gone on to its handler; settle (settle.ts) may still run when the response ends. */
export const ENDED = 3

/** How a flow ends (set by resolve or decide, acted on by respond). */
export const UNDECIDED = 0
/** No limit applies: exempt, or no bucket kind and no slot counts the request. */
export const NOT_LIMITED = 1
/** The store (or the fallback, or the denial cache) decided: `answer`. */
export const DECIDED = 2
/** The identity's concurrency slots are all taken: `grant`. */
export const SLOTS_FULL = 3
/** The store failed and the limit's onStoreError is `'allow'`. */
export const LET_THROUGH = 4
/** The store failed and the limit's onStoreError is `'deny'`: a 503. */
export const UNAVAILABLE = 5
/** A function of the user failed or returned nonsense: `error`. */
export const FAILED = 6
/** The client went away while the request waited: nothing to answer. */
export const DROPPED = 7
/** A concurrency limit without rates took its slot: the request passes. */
export const SLOTTED = 8

/** A ban's progress on a flow: not looked at, counted (not banned), banned, banned by this request. */
export const UNCHECKED = 0
export const STRUCK = 1
export const BANNED = 2
export const STARTED = 3

/** The concurrency slot a request wants: its kind and store key. */
export interface SlotWanted {
  readonly kind: CompiledSlots
  readonly key: string
}

/** The delay line (delay.ts): requests that wait instead of a 429. */
export interface DelayLine {
  /** On arrival: true when the flow queues behind waiting requests of its identity (it waits). */
  behind (flow: Flow): boolean
  /** On a denial: true when the flow waits instead of the 429, to be decided again. */
  wait (flow: Flow, retryAfterMs: number): boolean
  /** The flow passed after waiting: it leaves the line; how long it waited, in ms. */
  passed (flow: Flow): number
  /** The flow stops waiting (it is answered some other way). */
  leave (flow: Flow): void
  /** Fastify is closing: every waiting flow is decided now. */
  close (): void
}

/** What one registration of the plugin decides with (runtime.ts builds it). */
export interface Runtime {
  readonly options: ResolvedOptions
  readonly report: Reporter
  readonly guard: StoreGuard
  /** Remembered denials; undefined for the memory store, which is as fast as the cache. */
  readonly denials: DenialCache | undefined
  /** The credentials-without-a-user warning, logged once per route. */
  readonly warnings: CredentialsWarning
  readonly delays: DelayLine
  /** The resets since a charge: a refund of a charge made before one gives nothing back. */
  readonly resets: Resets
  /** The registration's logger, for decisions made without a request. */
  readonly log: FastifyBaseLogger
}

/** The engine that runs flows (engine.ts): stages resume a flow through it after a wait. */
export interface Engine {
  readonly runtime: Runtime
  /** Runs the flow from the stage it is at to its end, or to its next wait. */
  run (flow: Flow): void
  /** A store call of the flow answered (decide.ts reads which one from `flow.phase`). */
  answered (flow: Flow, value: unknown): void
  /** A store call of the flow failed or timed out. */
  unanswered (flow: Flow, err: unknown): void
}

/** No buckets (yet): shared, never written, so that a flow allocates an array only for buckets it has. */
export const NO_BUCKETS: never[] = []

export class Flow implements Caller {
  readonly engine: Engine
  readonly limit: CompiledLimit
  readonly mode: FlowMode
  /** The request decided for; undefined for `consume()` and `peek()` by selector. */
  request: FastifyRequest | undefined
  /** The reply, in the HTTP hook only. */
  reply: FastifyReply | undefined
  log: FastifyBaseLogger
  /** Called once when the request goes on (respond.ts): the hook's `done`, or the API's promise. */
  end: (flow: Flow) => void
  /** The hook's `done`, in the HTTP hook. */
  done: ((err?: Error) => void) | undefined

  stage: number
  /** Where resolve is (resolve.ts), and where decide is (decide.ts). */
  step: number
  phase: number
  /** Counts the waits for a user function's promise: an answer to an older wait (a thenable that calls back twice) is ignored. */
  waits: number
  outcome: number

  // resolve: who is counted, in which buckets, at what cost
  /** The request's buckets under this limit: one kind, or with `apply: 'all'` several (see `addBucket`). */
  resolved: ResolvedBucket[]
  /** The encoded identity of a key or user kind whose rates a function is deciding. */
  pending: string | undefined
  /** The encoded identities the resolvers returned, for the concurrency slot. */
  keyId: string | undefined
  userId: string | undefined
  slot: SlotWanted | undefined
  cost: number
  /** The cost `consume()` was given; undefined: the limit's. */
  given: number | undefined
  /** Set when the request is counted but then fails: an uncountable cost (charged at 1), or a function's failure. */
  error: Error | undefined

  // decide: the clock, the slot, the store's answer
  now: number | undefined
  buckets: StoreBucket[]
  /** What the store is asked: the buckets, after a ban's gates when the limit bans. */
  asked: StoreBucket[]
  answer: StoreDecision | undefined
  /** Set when the local fallback store decided (and so charged) instead of the plugin's store. */
  fallback: boolean
  /** Set when the answer may be remembered as a denial on this server (denials.ts). */
  cacheKey: string | undefined
  /** Set while the request waits instead of a 429 (`delay`), and while it is decided again. */
  waiter: object | undefined
  /** The slot held, once taken; the grant that refused one. */
  held: { readonly key: string, readonly token: string, readonly fallback: boolean } | undefined
  grant: SlotGrant | undefined
  ban: number
  /** A ban's end (epoch ms) when the flow is banned. */
  bannedUntil: number

  // respond: the public decision
  decision: RateLimitDecision | undefined

  /** Set while the engine runs the flow: an answer that comes meanwhile (a synchronous store) does not resume it again. */
  running: boolean

  /**
   * A flow of `limit` for `mode`; the caller sets `request`, `reply`, `log` and `end` (and `done`,
   * `given`) before the engine runs it. Every field is set here, in one order, so that every flow
   * has one shape (plain assignments: cheaper than class fields, measured on the hot path).
   */
  constructor (engine: Engine, limit: CompiledLimit, mode: FlowMode, log: FastifyBaseLogger) {
    this.engine = engine
    this.limit = limit
    this.mode = mode
    this.request = undefined
    this.reply = undefined
    this.log = log
    this.end = ignore
    this.done = undefined
    this.stage = RESOLVING
    this.step = 0
    this.phase = 0
    this.waits = 0
    this.outcome = UNDECIDED
    this.resolved = NO_BUCKETS
    this.pending = undefined
    this.keyId = undefined
    this.userId = undefined
    this.slot = undefined
    this.cost = 1
    this.given = undefined
    this.error = undefined
    this.now = undefined
    this.buckets = NO_BUCKETS
    this.asked = NO_BUCKETS
    this.answer = undefined
    this.fallback = false
    this.cacheKey = undefined
    this.waiter = undefined
    this.held = undefined
    this.grant = undefined
    this.ban = UNCHECKED
    this.bannedUntil = 0
    this.decision = undefined
    this.running = false
  }

  /** Counts the request in one more bucket kind. */
  addBucket (bucket: ResolvedBucket): void {
    if (this.resolved === NO_BUCKETS) this.resolved = [bucket]
    else this.resolved.push(bucket)
  }

  /** Goes on from where the flow waited. */
  resume (): void {
    this.engine.run(this)
  }

  /** Decides the flow again, from decide's first phase (the clock): after a wait in the delay line. */
  decideAgain (): void {
    this.phase = 0
    this.answer = undefined
    this.engine.run(this)
  }

  /** @internal for the store guard */
  answered (value: unknown): void {
    this.engine.answered(this, value)
  }

  /** @internal for the store guard */
  unanswered (err: unknown): void {
    this.engine.unanswered(this, err)
  }
}

/**
 * Whether the client went away: the request aborted or destroyed by an error, or the response
 * closed before it was sent (a request stream merely read to its end is not that). In the HTTP
 * hook only (the delay line and concurrency slots).
 */
export function clientGone (flow: Flow): boolean {
  const raw = (flow.request as FastifyRequest).raw
  const response = (flow.reply as FastifyReply).raw
  return raw.aborted || raw.errored != null || (response.destroyed && !response.writableFinished)
}
