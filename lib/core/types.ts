/**
 * The shared types of the ground floor: the decision a request gets, the compiled limits the
 * request path runs, the resolved options. Every part of the plugin may import them; they
 * import nothing of the project but the algorithm and store contracts beside them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Algorithm, AlgorithmParams } from './algorithm.js'
import type { Store, StoreBucket } from './store.js'

/** The kind of bucket a request was counted in. */
export type BucketKind = 'ip' | 'user' | 'key'

/** `request.rateLimit`: the decision for this request. */
export interface RateLimitDecision {
  /** False when the request was (or, in dry-run, would have been) denied. */
  allowed: boolean
  /** The limit of the deciding rate (for several windows: the most restrictive one). */
  limit: number
  /** Cost units left in that bucket; never negative. */
  remaining: number
  /** Epoch ms at which, with no further traffic, the bucket is fully available again. */
  resetMs: number
  /** Exact ms until the same request would be allowed; 0 when allowed. */
  retryAfterMs: number
  /** Which bucket decided: the client IP, the user, or the route's `key`. */
  bucket: BucketKind
  /** The deciding rate as declared, for example `'10/min'`. */
  rate: string
  /**
   * How long the request waited instead of a 429 (the `delay` option) before it passed, in ms
   * (on the plugin's `clock` when it has one); absent when it did not wait.
   */
  delayedMs?: number
  /**
   * True when the request was answered as banned (the `ban` option: its `statusCode`, 403 by
   * default, with `Retry-After` until the ban ends), or in dry-run mode would have been;
   * absent otherwise.
   */
  banned?: boolean
  /**
   * On a 429 of a concurrency limit: the identity's requests in flight on the route (its
   * `concurrency` limit); absent otherwise.
   */
  inFlight?: number
  /**
   * True on a denial of a limit in dry-run mode: the request was let through (and
   * `fastify.rateLimit.consume()` callers should let it through too); absent otherwise.
   */
  dryRun?: boolean
}

/** What `errorResponseBuilder` and `onExceeded` receive about a denial. */
export interface LimitContext extends RateLimitDecision {
  /** The limit's `statusCode` (429 unless set); for a banned request, the ban's `statusCode` (403 unless set). */
  statusCode: number
  /** `Retry-After` in whole seconds, rounded up. */
  retryAfter: number
  /** A human phrase for `retryAfter`, such as `'1 second'` or `'12 seconds'`. */
  after: string
  /** The route, for example `'POST /upload'`, or the group name. */
  route: string
  /** True when the limit is in dry-run mode (the request passes anyway). */
  dryRun: boolean
}

/** What `onExceeding` receives about a request a limit allowed: its decision, and the limit. */
export interface ExceedingContext extends RateLimitDecision {
  /** The route, for example `'POST /upload'`, the group name, or `'global'`. */
  route: string
}

/** What a request does when the store fails: decide locally, let it through, or answer 503. */
export type StoreErrorMode = 'fallback' | 'allow' | 'deny'

/** Identity resolvers return a string or number, or undefined/null for "none". */
export type Identity = string | number | undefined | null

/** A value, or a promise of it: what every function the plugin accepts may return (a promise is awaited). */
export type MaybePromise<T> = T | PromiseLike<T>

/** The hooks the limiter can run in. */
export type HookName = 'onRequest' | 'preValidation' | 'preHandler'

/** One rate of a bucket kind, with everything a request needs precomputed at registration. */
export interface CompiledRate {
  readonly text: string
  readonly algorithm: Algorithm<any>
  readonly params: AlgorithmParams
  /** The end of the store key: `}:<code>:<limit>:<windowMs>[:<burst>]`. */
  readonly tail: string
  /** The serialized IETF policy name. */
  readonly policyName: string
}

/** The buckets of one kind (ip, user or key) of one limit. */
export interface CompiledKind {
  readonly kind: BucketKind
  /** The start of the store key, up to the identity: `<prefix>:{<route>:<kind>:`. */
  readonly head: string
  /** The rates; empty for a kind whose rates a function decides per request (see `dynamic`). */
  readonly rates: readonly CompiledRate[]
  /** The serialized RateLimit-Policy field for these rates. */
  readonly policy: string
  /** The largest cost every rate of the kind can allow (the smallest capacity); Infinity with no rates. */
  readonly maxCost: number
  /** Set when a function decides the kind's rates per request. */
  readonly dynamic: DynamicRates | undefined
}

/**
 * A bucket kind whose rates a function of the request returns (`ip: (request) => '10/min'`).
 * Each distinct returned rate is compiled once into a kind of its own (same head, so the same
 * identity; its own rate tails, so different rates never share a bucket) and cached.
 */
export interface DynamicRates {
  readonly fn: (request: FastifyRequest) => unknown
  /**
   * The kind of the rates a call returned, compiled or from the cache; undefined for
   * `undefined` (this kind does not limit the request). Throws FST_LIMITER_INVALID_RATE_RESULT.
   */
  compile (value: unknown): CompiledKind | undefined
  /** The kinds compiled lately (the cache): what `reset()` by selector forgets. */
  known (): Iterable<CompiledKind>
}

/** A limit compiled for one route (or group, or the global limit). */
export interface CompiledLimit {
  /** What logs and the 429 context call it: `'POST /upload'`, a group name, `'global'`. */
  readonly route: string
  /** What request-time errors call it: `'Route POST /upload'`. */
  readonly where: string
  /** The bucket namespace: the route (HEAD shares GET's), the group, or `'*'` for `global`. */
  readonly id: string
  /** Keeps route, group, global and `hook()` buckets apart (see keyHead): `''`, `'group='`, `'hook<n>='`. */
  readonly namespace: string
  /** The algorithm of every rate of the limit. */
  readonly algorithm: Algorithm<any>
  /** True when a function decides the rates of one of the kinds per request. */
  readonly dynamic: boolean
  /**
   * True for a limit with nothing to resolve but the IP: fixed IP rates, a fixed cost, no key,
   * user, concurrency or exemption. The request path resolves it without its steps (resolve.ts).
   */
  readonly plain: boolean
  readonly ip: CompiledKind | undefined
  readonly user: CompiledKind | undefined
  readonly key: CompiledKind | undefined
  /** The key function: the limit's own `key`, else the plugin's (unless `key: false`). */
  readonly keyFn: ((request: FastifyRequest) => MaybePromise<Identity>) | undefined
  /** Who is not limited (the limit's `exempt`, else the plugin's); undefined: nobody. */
  readonly exempt: ExemptFunction | undefined
  readonly cost: number | ((request: FastifyRequest) => MaybePromise<number>)
  /** The largest cost every rate can ever allow (the smallest burst). */
  readonly maxCost: number
  readonly dryRun: boolean
  readonly onStoreError: StoreErrorMode
  /** The headers this limit writes (the route's `headers`, else the plugin's). */
  readonly headers: HeaderFormat
  readonly writeHeaders: HeaderWriter | undefined
  /** The headers of its denials (its `deniedHeaders`, else the plugin's, else `headers`). */
  readonly deniedHeaders: HeaderFormat
  readonly writeDeniedHeaders: HeaderWriter | undefined
  /** The name a denial's Retry-After goes under (concurrency 429s write it alone); undefined: not sent. */
  readonly retryAfterHeader: string | undefined
  /** The status of its denials (its `statusCode`, else the plugin's: 429 unless set). */
  readonly statusCode: number
  /** Told of each request it allows, and of each denial (the route's, else the plugin's). */
  readonly onExceeding: ((request: FastifyRequest, context: ExceedingContext) => MaybePromise<void>) | undefined
  readonly onExceeded: ((request: FastifyRequest, context: LimitContext) => MaybePromise<void>) | undefined
  /** The 429 body format (the route's `errorFormat`, else the plugin's). */
  readonly errorFormat: ErrorFormat
  /** The 429 body: the plugin's `errorResponseBuilder` if given, else the format's default body. */
  readonly errorResponseBuilder: (request: FastifyRequest, context: LimitContext) => unknown
  /** The 429's content type, when it is not Fastify's default (`application/problem+json`). */
  readonly errorContentType: string | undefined
  /** `'first'`: the first kind whose identity resolves; `'all'`: every such kind, in one store call. */
  readonly apply: 'first' | 'all'
  /** Which responses count (the route's `count`, else the plugin's); other charged requests are refunded. */
  readonly count: CountOption
  /** What a request really cost, once its response is (the route's `settle`, else the plugin's). */
  readonly settle: SettleOption | undefined
  /** Waiting instead of a 429 (the route's `delay`, else the plugin's); undefined: a 429 at once. */
  readonly delay: DelaySettings | undefined
  /** The route's `concurrency`: in-flight requests per identity, by kind; undefined: none. */
  readonly concurrency: Readonly<Partial<Record<BucketKind, CompiledSlots>>> | undefined
  /** The limit's `ban` (the route's, else the plugin's), resolved; undefined: no bans. */
  readonly ban: CompiledBan | undefined
}

/** The `ban` option, resolved to integers once, with the `onBan` that applies. */
export interface CompiledBan {
  readonly after: number
  readonly forMs: number
  /** `backoff` in thousandths (algorithms/ban.ts computes with integers only). */
  readonly backoffMilli: number
  readonly maxMs: number
  readonly statusCode: number
  /** Whether a request during a ban starts it again (a strike per banned request). */
  readonly extend: boolean
  readonly onBan: ((request: FastifyRequest, context: LimitContext) => MaybePromise<void>) | undefined
}

/** One kind of a concurrency limit, compiled: the slot key's head and the limit. */
export interface CompiledSlots {
  readonly kind: BucketKind
  readonly limit: number
  /** The start of the slot key, up to the identity (the head of the kind's buckets). */
  readonly head: string
  /** How the 429 names it, as `rate`: `'2 in flight'`. */
  readonly text: string
}

/** The `exempt` option, compiled: true for a request that is not limited. */
export type ExemptFunction = (request: FastifyRequest) => MaybePromise<boolean>

/** The `delay` option, defaulted: a denial whose wait is at most `maxMs` waits; at most `queue` wait per limit. */
export interface DelaySettings {
  readonly maxMs: number
  readonly queue: number
}

/** The `settle` option: a request's real cost, once its response is known. */
export type SettleOption = (request: FastifyRequest, reply: FastifyReply) => MaybePromise<number>

/** The `count` option: which responses a charged request counts for. */
export type CountOption = 'all' | 'failed' | 'successful' | ((request: FastifyRequest, reply: FastifyReply) => MaybePromise<boolean>)

/** The bucket kind and identity a request falls in for a limit. */
export interface ResolvedBucket {
  readonly kind: CompiledKind
  /** The encoded identity, as it stands in the store keys. */
  readonly identity: string
}

/** What a limit applied to a request: kept on the request for headers, logs, `reset(request)` and settling. */
export interface Applied extends ResolvedBucket {
  readonly limit: CompiledLimit
  readonly rate: CompiledRate
  readonly now: number
  /** Denied and not in dry-run: the response is a 429. */
  readonly blocked: boolean
  /** The limit applied before this one on the same request, if any. */
  readonly previous: Applied | null
  /**
   * The buckets this decision charged, on the entry of the kind that decided when it was allowed
   * (the others of an `apply: 'all'` limit, and denials, have none): what `count`, `settle` and
   * `fastify.rateLimit.settle()` refund or settle, at most once. The fields below describe that
   * charge (plain fields rather than an object of their own: no allocation per request).
   */
  readonly charged: readonly StoreBucket[] | undefined
  readonly cost: number
  /** The local fallback store charged, not the plugin's. */
  readonly fallback: boolean
  /** The reset generation the charge was made in (lib/request/resets.ts). */
  readonly generation: number
  /** Which registration charged (its runtime): `fastify.rateLimit.settle()` settles its own. */
  readonly owner: object
  /** Set once the charge is settled (refunded, settled, or found reset). */
  settled: boolean
}

/** Header names of the legacy format, or of a custom-names object. */
export interface HeaderNames {
  limit: string
  remaining: string
  reset: string
  retryAfter: string
}

/**
 * Writes a decision's headers. Besides the public decision it reads the request's record of it
 * (`Applied`): the deciding kind's policy list and rates, the deciding rate, when the store
 * decided, whether the response is a 429 (a dry run's denial sends no Retry-After) and the
 * identity (draft-8's partition key is a hash of it). No object is made per request to say so.
 */
export type HeaderWriter = (reply: FastifyReply, decision: RateLimitDecision, applied: Applied) => void

/** The custom-names form of the `headers` option: each field a name, or `false` (not sent). */
export type HeaderFields = { [field in keyof HeaderNames]: string | false }

/** The `headers` option: a format, `false` for none, or legacy headers under custom names (or left out). */
export type HeaderFormat = 'legacy' | 'ietf' | 'draft-6' | 'draft-7' | 'draft-8' | 'draft-10' | false | Partial<HeaderFields>

/** The `errorFormat` option: the default 429, ban and 503 bodies, or RFC 9457 problem details. */
export type ErrorFormat = 'plain' | 'problem'

/** A pino level, or `false` for "do not log". */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | false

/** How denials are logged; the `log` plugin option, resolved. */
export interface LogOptions {
  /** Level of denials answered with a 429. */
  readonly denied: LogLevel
  /** Level of dry-run denials (let through). */
  readonly dryRun: LogLevel
  /** How the client appears in the log line: a keyed hash, as is, or not at all. */
  readonly identity: 'hash' | 'raw' | false
  /** The HMAC key of `'hash'`: random per plugin instance, so a hash cannot be reversed by guessing IPs. */
  readonly hashKey: Buffer
}

/**
 * The part of a prom-client `Registry` the plugin uses. Written out here so that the published
 * types do not need prom-client (an optional peer dependency).
 */
export interface MetricsRegistry {
  getSingleMetric (name: string): unknown
  removeSingleMetric (name: string): void
  registerMetric (metric: any): void
}

/** The `metrics` option: `true` for prom-client's default registry, or a registry and a name prefix. */
export type MetricsInput = boolean | {
  /** Default: prom-client's default registry (`client.register`). */
  registry?: MetricsRegistry
  /** Default: `'fastify_limiter_'`. */
  prefix?: string
}

type Schema = Record<string, unknown>

/** What the OpenAPI document says about every limited route, worked out once at registration. */
export interface OpenApiDocs {
  /** Headers of every response of a limited route. */
  readonly headers: Schema
  /** Headers of a 429 (the above and Retry-After). */
  readonly deniedHeaders: Schema
  /** The 429 body: a JSON schema, or undefined when a custom builder's body is not described. */
  readonly errorSchema: Schema | undefined
  /** The 429's media type when it is not JSON's: `application/problem+json`. */
  readonly errorContentType: string | undefined
}

/** The plugin options, checked and fully defaulted once (lib/config/options.ts). */
export interface ResolvedOptions {
  readonly store: Store
  /** True when the plugin created the store (and so closes it on Fastify close). */
  readonly ownsStore: boolean
  readonly algorithm: Algorithm<unknown>
  readonly user: (request: FastifyRequest) => MaybePromise<Identity>
  readonly hook: HookName
  readonly keyPrefix: string
  /** The plugin's `headers` option, defaulted; routes may override it. */
  readonly headers: HeaderFormat
  readonly writeHeaders: HeaderWriter | undefined
  /** The plugin's `deniedHeaders` option; undefined: denials send what `headers` says. Routes may override it. */
  readonly deniedHeaders: HeaderFormat | undefined
  /** The plugin's `errorFormat` option, defaulted; routes may override it. */
  readonly errorFormat: ErrorFormat
  /** The plugin's `statusCode` option, defaulted (429); routes may override it. */
  readonly statusCode: number
  /** The user's `errorResponseBuilder`, if any: it builds every 429 body, whatever the format. */
  readonly customErrorResponse: ((request: FastifyRequest, context: LimitContext) => unknown) | undefined
  readonly errorResponseBuilder: (request: FastifyRequest, context: LimitContext) => unknown
  readonly exempt: ExemptFunction | undefined
  readonly dryRun: boolean
  readonly ipv6Subnet: number
  readonly onExceeding: CompiledLimit['onExceeding']
  readonly onExceeded: CompiledLimit['onExceeded']
  readonly clock: (() => number) | undefined
  /**
   * What the OpenAPI document says about a limited route (its headers and 429 body follow the
   * limit's `headers` and `errorFormat`); undefined with `openapi: false`.
   */
  readonly openapi: ((limit: CompiledLimit) => OpenApiDocs) | undefined
  readonly metrics: MetricsInput
  readonly log: LogOptions
  readonly onStoreError: StoreErrorMode
  readonly storeTimeoutMs: number
  /** The plugin's `count`, defaulted; routes may override it. */
  readonly count: CountOption
  /** The plugin's `settle`; routes may override it. */
  readonly settle: SettleOption | undefined
  /** The plugin's `delay` option, defaulted; routes may override it. */
  readonly delay: DelaySettings | undefined
  /** How long a concurrency slot lives at most on SQLite and Redis, in ms. */
  readonly leaseMs: number
  /** The plugin's `ban`, resolved (with the plugin's `onBan`); routes may override it. */
  readonly ban: CompiledBan | undefined
  /** The plugin's `onBan`: a route's `ban` without an `onBan` of its own uses it. */
  readonly onBan: CompiledBan['onBan']
}
