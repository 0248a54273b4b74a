import Type from 'typebox'
import type { Static } from 'typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AlgorithmName } from '../core/algorithm.js'
import type { Store } from '../core/store.js'
import type { ExceedingContext, Identity, LimitContext, LogLevel, MetricsRegistry, StoreErrorMode } from '../core/types.js'
import { FIELD_NAME } from '../request/headers.js'
import type { RedisClient } from '../../stores/redis.js'

/**
 * The TypeBox schemas of the plugin options and of a route's `config.rateLimit`. The
 * public option types are derived from them (`Static`), so the registration check and the
 * compile-time check can never drift apart. Function-valued options are checked as
 * functions; `Type.Unsafe` gives them their precise TypeScript signature.
 */

/** The units of a rate string in lower case (lib/config/rate.ts). */
type LowerRateUnit =
  | 'ms' | 'msec' | 's' | 'sec' | 'secs' | 'second' | 'seconds' | 'm' | 'min' | 'mins' | 'minute' | 'minutes'
  | 'h' | 'hr' | 'hrs' | 'hour' | 'hours' | 'd' | 'day' | 'days'

/**
 * The units a rate string accepts. Registration takes any case (`'10/mIn'`); the type takes
 * the three usual ones: `min`, `MIN` and `Min`.
 */
export type RateUnit = LowerRateUnit | Uppercase<LowerRateUnit> | Capitalize<LowerRateUnit>

/** `'<count>/<window>'`: `'10/min'`, `'3/5min'`, `'20/30s'`. Checked again at registration. */
export type RateString = `${number}/${RateUnit}` | `${number}/${number}${RateUnit}`

/** What a request-function option receives and may return: a value, or a promise of one (awaited). */
type RequestFunction<R> = (request: FastifyRequest) => R | PromiseLike<R>

const fn = <T>(description: string) =>
  Type.Unsafe<T>(Type.Function([Type.Any()], Type.Unknown(), { description }))

export const RateSchema = Type.Union([
  Type.Unsafe<RateString>(Type.String()),
  Type.Object({
    /**
     * Requests (cost units) allowed per window: a positive integer.
     * @example { limit: 100, windowMs: 90_000 }
     */
    limit: Type.Number({ description: 'a positive integer (cost units per window)' }),
    /**
     * The window, in milliseconds: a positive integer.
     * @example { limit: 100, windowMs: 90_000 }
     */
    windowMs: Type.Number({ description: 'a positive integer (milliseconds)' })
  }, { additionalProperties: false })
], { description: "a rate like '10/min' or '3/5min', or { limit, windowMs }" })

/**
 * A rate a rate function returns: a rate string or `{ limit, windowMs }`. Any string is
 * accepted by the type (rates often come from a plan table); it is checked when returned.
 */
export type RateValue = string | { limit: number, windowMs: number }

/**
 * Rates decided per request: `(request) => rate | rate[] | undefined`, or a promise of one.
 * `undefined` means this bucket kind does not limit the request (the next kind applies).
 */
export type RateFunction = (request: FastifyRequest) => RateValue | readonly RateValue[] | undefined |
PromiseLike<RateValue | readonly RateValue[] | undefined>

export const RatesSchema = Type.Union([
  RateSchema,
  Type.Array(RateSchema, { minItems: 1, description: "a non-empty array of rates like '10/min' or { limit, windowMs }" }),
  fn<RateFunction>('a function (request) => rate | rate[] | undefined')
], { description: "a rate like '10/min' or '3/5min', { limit, windowMs }, a non-empty array of them, or a function (request) => rate | rate[] | undefined" })

export const AlgorithmSchema = Type.Unsafe<AlgorithmName>(Type.Union([
  Type.Literal('fixed-window'),
  Type.Literal('sliding-window'),
  Type.Literal('sliding-log'),
  Type.Literal('token-bucket'),
  Type.Literal('leaky-bucket'),
  Type.Literal('gcra')
]))

/** An HTTP field name (RFC 9110 token): what custom header names must be. */
const FieldName = () => Type.String({ pattern: FIELD_NAME.source, description: "an HTTP field name (letters, digits and !#$%&'*+-.^_`|~)" })

/** One field of the custom-names form: its name, or `false` for "not sent". */
const HeaderField = () => Type.Union([FieldName(), Type.Literal(false)],
  { description: "an HTTP field name (letters, digits and !#$%&'*+-.^_`|~), or false (not sent)" })

export const HeaderNamesSchema = Type.Object({
  /**
   * Name of the header carrying the limit of the most restrictive window, or `false` to send
   * the others without it.
   * @default 'x-ratelimit-limit'
   * @example { headers: { limit: 'x-limit' } }
   * @example { headers: { limit: false } }
   */
  limit: Type.Optional(HeaderField()),
  /**
   * Name of the header carrying the requests left in the window, or `false` (not sent).
   * @default 'x-ratelimit-remaining'
   * @example { headers: { remaining: 'x-limit-remaining' } }
   */
  remaining: Type.Optional(HeaderField()),
  /**
   * Name of the header carrying when the window resets (Unix epoch seconds), or `false` (not sent).
   * @default 'x-ratelimit-reset'
   * @example { headers: { reset: 'x-limit-reset' } }
   * @example { deniedHeaders: { reset: false } }
   */
  reset: Type.Optional(HeaderField()),
  /**
   * Name of the header a denial carries the wait in (whole seconds, rounded up), or `false`
   * (not sent).
   * @default 'retry-after'
   * @example { headers: { retryAfter: 'x-retry-after' } }
   * @example { deniedHeaders: { retryAfter: false } }
   */
  retryAfter: Type.Optional(HeaderField())
}, { additionalProperties: false })

// The object first: TypeBox reports a bounded number of errors, and an unknown key inside the
// object must be among them to be named.
export const HeadersSchema = Type.Union([
  HeaderNamesSchema,
  Type.Literal('legacy'),
  Type.Literal('ietf'),
  Type.Literal(false),
  Type.Literal('draft-6'),
  Type.Literal('draft-7'),
  Type.Literal('draft-8'),
  Type.Literal('draft-10')
], { description: "'legacy', 'ietf', false, 'draft-6', 'draft-7', 'draft-8', 'draft-10', or { limit, remaining, reset, retryAfter } header names (each a name or false)" })

/** The status of a denial (a rate's or a concurrency limit's): an integer from 400 to 599. */
const StatusCodeSchema = () => Type.Integer({ minimum: 400, maximum: 599 })

/** An `exempt` option: IPs and CIDRs, or a function of the request. */
const ExemptSchema = () => Type.Union([
  Type.Array(Type.String({ description: "an IP or CIDR like '10.0.0.0/8'" })),
  fn<RequestFunction<boolean>>('a function (request) => boolean')
], { description: "an array of IPs and CIDRs like ['127.0.0.1', '10.0.0.0/8'], or a function (request) => boolean" })

/** What `onExceeding` is called with: the allowed request's decision and its limit. */
type OnExceeding = (request: FastifyRequest, context: ExceedingContext) => void | PromiseLike<void>
/** What `onExceeded` is called with: the denied request and the denial's context. */
type OnExceeded = (request: FastifyRequest, context: LimitContext) => void | PromiseLike<void>

export const ErrorFormatSchema = Type.Union([Type.Literal('plain'), Type.Literal('problem')])

/** A duration: milliseconds, or a string like `'15min'`, `'30s'`, `'1h'` (the units of a rate). */
export type DurationInput = number | `${number}${RateUnit}` | RateUnit

const DurationSchema = Type.Union([Type.Integer({ minimum: 1 }), Type.Unsafe<`${number}${RateUnit}` | RateUnit>(Type.String())],
  { description: "a duration like '15min' or milliseconds" })

/** The `ban` option: after repeated denials, refuse every request of the identity for a while. */
export const BanSchema = Type.Object({
  /**
   * Denials of one identity within one window of its limit (the window of the rate that
   * denied) that start a ban; the `after`-th denial itself is answered as banned. An integer
   * from 1 to 1000000. No default.
   * @example { ip: '10/min', ban: { after: 5, for: '15min' } }
   */
  after: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  /**
   * How long the first ban lasts: milliseconds, or a duration string like `'15min'`, `'30s'`,
   * `'1h'` (at most 365 days). No default.
   * @example { ip: '10/min', ban: { after: 5, for: 60_000 } }
   */
  for: DurationSchema,
  /**
   * Each further ban of the same identity lasts this many times longer than the one before (a
   * number from 1 to 100, in steps of 0.001), up to `max`. A ban counts as "further" when the
   * identity offends again before it is forgiven: as long after its last ban as that ban lasted.
   * @default 1 (every ban lasts `for`)
   * @example { ip: '10/min', ban: { after: 5, for: '1min', backoff: 2, max: '1h' } }
   */
  backoff: Type.Optional(Type.Number({ minimum: 1, maximum: 100 })),
  /**
   * The longest ban: milliseconds or a duration string, at least `for`, at most 365 days.
   * @default `for` when `backoff` is 1; otherwise 24 hours, or `for` when that is longer
   * @example { ip: '10/min', ban: { after: 3, for: '1min', backoff: 4, max: '2h' } }
   */
  max: Type.Optional(DurationSchema),
  /**
   * The status of the answer to a banned request (400 to 599), with `Retry-After` until the ban ends.
   * @default 403
   * @example { ip: '10/min', ban: { after: 5, for: '15min', statusCode: 429 } }
   */
  statusCode: Type.Optional(Type.Integer({ minimum: 400, maximum: 599 })),
  /**
   * Every request of a banned identity starts its ban again: the ban ends only once the client
   * stayed away for as long as a ban of its level lasts (`for`, or longer after backoff). A
   * restarted ban is the same ban: `onBan` is not called again and the next ban's length does
   * not grow. With `after: 1` and `statusCode: 429`, the `continueExceeding` of Fastify's
   * rate-limit plugin. Costs one store call per banned request (a strike), where a ban without
   * it costs none.
   * @default false (requests while banned do not lengthen it)
   * @example { ip: '10/min', ban: { after: 1, for: '1min', extend: true, statusCode: 429 } }
   */
  extend: Type.Optional(Type.Boolean())
}, { additionalProperties: false })

/** The `delay` option: wait instead of a 429 when the wait is short. */
export const DelaySchema = Type.Object({
  /**
   * The longest wait, in ms (1 to 60000): a denied request that could pass within this waits,
   * on a timer, and is decided again (charged only when it passes); a longer wait is a 429.
   * Waiting requests of one identity pass in arrival order.
   * @example { delay: { maxMs: 2000 } }
   */
  maxMs: Type.Integer({ minimum: 1, maximum: 60_000 }),
  /**
   * At most this many requests (1 to 1000000) wait per route and process; past that, a 429.
   * @default 1000
   * @example { delay: { maxMs: 500, queue: 100 } }
   */
  queue: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 }))
}, { additionalProperties: false })

/** A concurrency limit: requests of one identity in flight at once, by bucket kind. */
export const ConcurrencySchema = Type.Object({
  /**
   * At most this many requests (1 to 1000000) of one client IP in flight on the route at once.
   * No default: without it, requests counted per IP have no concurrency limit.
   * @example { ip: '100/min', concurrency: { ip: 5 } }
   */
  ip: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  /**
   * At most this many requests of one user in flight on the route at once.
   * No default: without it, signed-in requests have no concurrency limit.
   * @example { user: '100/hour', concurrency: { user: 2 } }
   */
  user: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  /**
   * At most this many requests of one `key` in flight on the route at once (needs the limit's `key`).
   * No default: without it, requests with a key have no concurrency limit.
   * @example { key: (r) => r.headers['x-api-key'], rate: '100/min', concurrency: { key: 10 } }
   */
  key: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 }))
}, { additionalProperties: false, minProperties: 1 })

/** The `headers` option as users write it. */
export type HeaderFormatInput = Static<typeof HeadersSchema>

/**
 * Which responses a request counts for: all, only failed ones (status >= 400), only successful
 * ones (status < 400), or those a function of the request and reply says (true: it counts).
 */
export type CountMode = 'all' | 'failed' | 'successful' | ((request: FastifyRequest, reply: FastifyReply) => boolean | PromiseLike<boolean>)

/** What a request really cost, known once its response is: an integer from 0, or a promise of one. */
export type SettleFunction = (request: FastifyRequest, reply: FastifyReply) => number | PromiseLike<number>

const CountSchema = Type.Union([
  Type.Literal('all'),
  Type.Literal('failed'),
  Type.Literal('successful'),
  fn<(request: FastifyRequest, reply: FastifyReply) => boolean | PromiseLike<boolean>>('a function (request, reply) => boolean')
])

export const LimitObjectSchema = Type.Object({
  /**
   * Rate(s) for anonymous traffic, per client IP (IPv6 by the plugin's `ipv6Subnet`): a rate
   * string, `{ limit, windowMs }`, or an array of them (several windows, all must allow); or a
   * function of the request returning those, or `undefined` (no IP limit for this request),
   * or a promise of them. No default: without it, a request that gets no `key` or `user`
   * bucket is not limited.
   * @example { ip: '10/min' }
   * @example { ip: ['10/s', '1000/day'] }
   * @example { ip: (request) => request.headers['x-partner'] === undefined ? '10/min' : '100/min' }
   */
  ip: Type.Optional(RatesSchema),
  /**
   * Rate(s) for signed-in traffic, per user id (the plugin's `user` option resolves it): like
   * `ip`, a function of the request too (`undefined`: the request falls back to `ip`).
   * No default: without it, signed-in requests fall back to the `ip` bucket.
   * @example { ip: '10/min', user: '100/min' }
   * @example { ip: '10/min', user: (request) => (request as { user?: { plan?: string } }).user?.plan === 'pro' ? '1000/min' : '100/min' }
   */
  user: Type.Optional(RatesSchema),
  /**
   * A custom identity (an API key, a tenant): `(request) => string | number | undefined`, or a
   * promise of one (awaited); takes `rate`. `undefined` or `null` means no key: the request
   * falls back to `user` or `ip`. It replaces the plugin's `key` on this limit; `false` turns
   * the plugin's `key` off here. No default: the plugin's `key`, if any (see the plugin option).
   * @example { key: (request) => request.headers['x-api-key'] as string | undefined, rate: '1000/hour' }
   * @example { key: async (request) => (await lookUpApiKey(request))?.tenant, rate: '1000/hour' }
   * @example { ip: '10/min', key: false } // per IP only, whatever the plugin's key says
   */
  key: Type.Optional(Type.Union([
    fn<RequestFunction<Identity>>('a function (request) => string | number | undefined'),
    Type.Literal(false)
  ], { description: "a function (request) => string | number | undefined, or false (not the plugin's key)" })),
  /**
   * Rate(s) for the `key` bucket, like `ip` (a function of the request too): given exactly
   * when `key` is, or, under a plugin `key`, alone (the plugin's key at this rate). No default:
   * the plugin's `rate` under a plugin `key`.
   * @example { key: (request) => request.headers['x-api-key'] as string | undefined, rate: (request) => request.headers['x-plan'] === 'pro' ? '1000/min' : '100/min' }
   * @example { key: (request) => request.headers['x-tenant'] as string | undefined, rate: ['50/s', '10000/day'] }
   */
  rate: Type.Optional(RatesSchema),
  /**
   * Cost units per request: a positive integer, or a function of the request returning one or
   * a promise of one (from 1 to the smallest capacity of the route's rates, else
   * `FST_LIMITER_INVALID_COST`).
   * @default 1
   * @example { user: '100/hour', cost: 10 }
   * @example { ip: '1000/hour', cost: (request) => Number((request.query as { pages?: string }).pages ?? 1) }
   */
  cost: Type.Optional(Type.Union([
    Type.Integer({ minimum: 1 }),
    fn<RequestFunction<number>>('a function (request) => number')
  ])),
  /**
   * The algorithm of this limit's buckets.
   * @default the plugin's `algorithm` ('sliding-window' unless set)
   * @example { ip: '10/min', algorithm: 'gcra' }
   */
  algorithm: Type.Optional(AlgorithmSchema),
  /**
   * Capacity for `token-bucket`, `leaky-bucket` and `gcra`: how many requests may arrive at
   * once. An error with the window algorithms.
   * @default the limit of each rate
   * @example { ip: '10/min', algorithm: 'token-bucket', burst: 30 }
   */
  burst: Type.Optional(Type.Integer({ minimum: 1 })),
  /**
   * Routes with the same group share buckets (they should declare the same limits).
   * No default: each route has buckets of its own.
   * @example { ip: '20/min', group: 'reports' }
   */
  group: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * Count and add headers, never block; would-be denials are logged and counted.
   * @default the plugin's `dryRun` (false unless set)
   * @example { ip: '10/min', dryRun: true }
   */
  dryRun: Type.Optional(Type.Boolean()),
  /**
   * What this limit does when the store fails or is slower than `storeTimeoutMs`:
   * `'fallback'` (decide on a local memory store), `'allow'` (let through) or `'deny'` (503).
   * @default the plugin's `onStoreError` ('fallback' unless set)
   * @example { ip: '5/min', onStoreError: 'deny' }
   */
  onStoreError: Type.Optional(Type.Unsafe<StoreErrorMode>(Type.Union([Type.Literal('fallback'), Type.Literal('allow'), Type.Literal('deny')]))),
  /**
   * The rate-limit headers of this limit's responses, overriding the plugin's `headers`:
   * `'legacy'`, `'ietf'`, `'draft-6'`, `'draft-7'`, `'draft-8'`, `'draft-10'`, `false` or custom names.
   * @default the plugin's `headers` ('legacy' unless set)
   * @example { ip: '2/s', headers: false }
   * @example { ip: '100/min', headers: 'draft-7' }
   */
  headers: Type.Optional(HeadersSchema),
  /**
   * The rate-limit headers of this limit's denials (its 429s, and a ban's 403), overriding the
   * plugin's `deniedHeaders`; the same forms as `headers`, so each field may be renamed or
   * `false` (not sent).
   * @default the plugin's `deniedHeaders`, else what `headers` sends (Retry-After included)
   * @example { ip: '10/min', deniedHeaders: { remaining: false, reset: false } }
   * @example { ip: '10/min', headers: false, deniedHeaders: 'legacy' } // headers on denials only
   */
  deniedHeaders: Type.Optional(HeadersSchema),
  /**
   * The 429, ban and 503 bodies of this limit, overriding the plugin's `errorFormat`: `'plain'`
   * or `'problem'` (RFC 9457 `application/problem+json`).
   * @default the plugin's `errorFormat` ('plain' unless set)
   * @example { ip: '10/min', errorFormat: 'problem' }
   */
  errorFormat: Type.Optional(ErrorFormatSchema),
  /**
   * The status of this limit's denials (a rate's or a concurrency limit's; a ban answers with
   * its own `ban.statusCode`), from 400 to 599, overriding the plugin's `statusCode`.
   * @default the plugin's `statusCode` (429 unless set)
   * @example { ip: '10/min', statusCode: 503 }
   */
  statusCode: Type.Optional(StatusCodeSchema()),
  /**
   * Which bucket kinds limit a request. `'first'`: only the first kind whose identity resolves
   * (the `key`, else the user, else the client IP). `'all'`: every kind whose identity resolves,
   * together and all-or-nothing in one store call, so an `ip` rate caps each client IP whatever
   * keys or users it presents (the IP always resolves).
   * @default 'first'
   * @example { key: (r) => r.headers['x-api-key'], rate: '100/min', ip: '20/min', apply: 'all' }
   */
  apply: Type.Optional(Type.Unsafe<'first' | 'all'>(Type.Union([Type.Literal('first'), Type.Literal('all')]))),
  /**
   * Which requests count: `'all'`, `'failed'` (responses with status >= 400: login protection),
   * `'successful'` (status < 400), or `(request, reply) => boolean` (or a promise of it; true:
   * it counts). A request is charged when it arrives, so concurrent requests never exceed the
   * limit, and refunded when its response should not count. Needs a store with `refund()`.
   * @default the plugin's `count` ('all' unless set)
   * @example { ip: '5/15min', count: 'failed' }
   * @example { ip: '100/min', count: (request, reply) => reply.statusCode !== 304 }
   */
  count: Type.Optional(Type.Unsafe<CountMode>(CountSchema)),
  /**
   * The request's real cost, known once the response is (an LLM's tokens, rows exported),
   * overriding the plugin's `settle`: the charge made on arrival (`cost`, an estimate) becomes
   * this number, exactly once, when the response ends or is aborted (a streamed reply: when its
   * stream ends). More is charged even past the limit (the bucket goes into debt: later requests
   * are denied until the algorithm's refill or window pays it back), less is refunded. An
   * integer from 0, or a promise of one; anything else is logged and the estimate stays.
   * `fastify.rateLimit.settle(request, cost)` settles from the handler instead. Needs a store
   * with `refund()` and `charge()` (the built-in ones have them).
   * @default the plugin's `settle` (none unless set)
   * @example { user: '100000/day', cost: 1000, settle: (request, reply) => reply.getHeader('x-tokens-used') as number }
   */
  settle: Type.Optional(fn<SettleFunction>('a function (request, reply) => number')),
  /**
   * Wait instead of a 429, overriding the plugin's `delay`: `{ maxMs, queue? }`, or `false` for
   * a 429 at once. A denied request whose `retryAfterMs` is at most `maxMs` waits and is decided
   * again; `request.rateLimit.delayedMs` says how long it waited.
   * @default the plugin's `delay` (none unless set)
   * @example { ip: '2/s', delay: { maxMs: 2000 } }
   */
  delay: Type.Optional(Type.Union([Type.Literal(false), DelaySchema])),
  /**
   * Concurrency limits: at most that many requests of one identity in flight on the route (or
   * its group) at once, the identity picked as for the rates (key, else user, else IP). Over
   * it: a 429 with `Retry-After: 1` and `request.rateLimit.inFlight`. A slot is released when
   * the request ends (response, abort, timeout or error); on SQLite and Redis it is a lease of
   * the plugin's `leaseMs`. A limit may have only this (no rates): an in-flight cap alone. Not in
   * `fastify.rateLimit.hook()` limits.
   * @default none
   * @example { user: '100/hour', concurrency: { user: 2 } }
   */
  concurrency: Type.Optional(ConcurrencySchema),
  /**
   * Ban an identity that keeps being denied, overriding the plugin's `ban`: `{ after, for,
   * backoff?, max?, statusCode?, extend? }`, or `false` for none. After `after` denials within
   * one window of its limit, every request of the identity gets `statusCode` (403) with
   * `Retry-After` until the ban ends (`extend`: each of them starts it again);
   * `request.rateLimit.banned` is true. Needs a store with `strike()` (the built-in ones have it).
   * @default the plugin's `ban` (none unless set)
   * @example { ip: '10/min', ban: { after: 5, for: '15min', backoff: 2, max: '1d' } }
   */
  ban: Type.Optional(Type.Union([Type.Literal(false), BanSchema])),
  /**
   * Called once per ban of this limit, overriding the plugin's `onBan`, with the request whose
   * denial started it and the context of its answer (`banned: true`); sync or async, its
   * failure is logged and never changes the response. No default.
   * @example { ip: '10/min', ban: { after: 5, for: '15min' }, onBan: (request, context) => request.log.warn({ route: context.route }, 'banned') }
   */
  onBan: Type.Optional(fn<(request: FastifyRequest, context: LimitContext) => void | PromiseLike<void>>('a function (request, context) => void')),
  /**
   * Requests this limit never counts (no count, no headers), replacing the plugin's `exempt`
   * on it: IPs and CIDRs, or a function of the request returning a boolean or a promise of one.
   * `[]` exempts nobody here.
   * @default the plugin's `exempt` (nobody unless set)
   * @example { ip: '10/min', exempt: ['10.0.0.0/8'] }
   * @example { ip: '10/min', exempt: (request) => request.headers['x-health-check'] === 'yes' }
   */
  exempt: Type.Optional(ExemptSchema()),
  /**
   * Called for each request this limit allows, overriding the plugin's `onExceeding`, with the
   * decision and the limit's route; its failure is logged and never changes the response.
   * @default the plugin's `onExceeding` (none unless set)
   * @example { ip: '10/min', onExceeding: (request, context) => { if (context.remaining === 0) request.log.info('last request of the window') } }
   */
  onExceeding: Type.Optional(fn<OnExceeding>('a function (request, context) => void')),
  /**
   * Called for each denial of this limit, dry-run ones too, overriding the plugin's
   * `onExceeded`; its failure is logged and never changes the response.
   * @default the plugin's `onExceeded` (none unless set)
   * @example { ip: '5/min', onExceeded: (request, context) => request.log.warn({ route: context.route }, 'login limit reached') }
   */
  onExceeded: Type.Optional(fn<OnExceeded>('a function (request, context) => void'))
}, { additionalProperties: false })

/** A limit: a rate string (shorthand for `{ ip }`, or under a plugin `key` for `{ rate, ip }`) or an object. */
export const LimitSchema = Type.Union([Type.Unsafe<RateString>(Type.String()), LimitObjectSchema],
  { description: `a rate string like '10/min' or an object with ${Object.keys(LimitObjectSchema.properties).join(', ')}` })

/** A route's `config.rateLimit`: a limit, or `false` to opt out of `global`. */
export const RouteLimitSchema = Type.Union([Type.Literal(false), LimitSchema],
  { description: `a rate string like '10/min', false, or an object with ${Object.keys(LimitObjectSchema.properties).join(', ')}` })

/** A pino level for a log line, or false for none. */
const LogLevelSchema = Type.Unsafe<LogLevel>(Type.Union(
  [...['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((level) => Type.Literal(level)), Type.Literal(false)]
))

export const PluginOptionsSchema = Type.Object({
  /**
   * Where buckets live: a `MemoryStore`, `SqliteStore`, `RedisStore` or your own store. A store
   * you pass is yours: the plugin never closes it. Not together with `sqlite` or `redis`.
   * @default a new `MemoryStore()`, owned and closed by the plugin
   * @example { store: new MemoryStore({ maxKeys: 500_000 }) }
   */
  store: Type.Optional(Type.Unsafe<Store>(Type.Object({}, { description: 'a store instance (consume, reset, clear, stats, close)' }))),
  /**
   * Shorthand for a `SqliteStore` the plugin owns and closes: a database file path, or
   * `{ path, cleanupIntervalMs, busyTimeoutMs, batch }`. No default: the memory store is used.
   * @example { sqlite: 'limits.db' }
   * @example { sqlite: { path: 'limits.db', busyTimeoutMs: 50 } }
   */
  sqlite: Type.Optional(Type.Union([
    Type.String({ minLength: 1 }),
    Type.Object({
      /**
       * The database file, created when absent; processes opening the same file share limits.
       * @example { sqlite: { path: '/var/lib/app/limits.db' } }
       */
      path: Type.String({ minLength: 1, description: "a database file path like 'limits.db'" }),
      /**
       * How often expired rows are deleted, in ms (expired rows are ignored anyway; the sweep
       * reclaims space).
       * @default 300_000
       * @example { sqlite: { path: 'limits.db', cleanupIntervalMs: 60_000 } }
       */
      cleanupIntervalMs: Type.Optional(Type.Integer({ minimum: 1 })),
      /**
       * How long a call waits for another process's write lock, in ms, before failing with
       * `FST_LIMITER_SQLITE_BUSY`. The wait blocks the event loop (better-sqlite3 is
       * synchronous), which `storeTimeoutMs` cannot cut short: hence its default.
       * @default the plugin's `storeTimeoutMs` (100 unless set)
       * @example { sqlite: { path: 'limits.db', busyTimeoutMs: 20 } }
       */
      busyTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
      /**
       * Group commit: the decisions of one turn of the event loop are made in one `BEGIN IMMEDIATE`
       * transaction, each exactly as it would be alone (see docs/stores.md). A batch whose
       * transaction fails (a lock held past `busyTimeoutMs`, a failed write) is decided again call
       * by call, within what is left of `busyTimeoutMs`; only the calls that still fail follow
       * `onStoreError`. `false`: one synchronous transaction per request.
       * @default true
       * @example { sqlite: { path: 'limits.db', batch: false } }
       */
      batch: Type.Optional(Type.Boolean())
    }, { additionalProperties: false })
  ], { description: "a database file path like 'limits.db', or { path, cleanupIntervalMs, busyTimeoutMs, batch }" })),
  /**
   * Shorthand for a `RedisStore`: a `redis://` or `rediss://` URL (the plugin creates, owns and
   * closes the client), an ioredis or iovalkey `Redis` or `Cluster` you own (never closed), or `true` for
   * `fastify.redis` from `@fastify/redis`. No default: the memory store is used.
   * @example { redis: 'redis://localhost:6379' }
   * @example { redis: true } // after app.register(fastifyRedis, { url })
   */
  redis: Type.Optional(Type.Union([
    Type.Literal(true),
    Type.String({ pattern: '^rediss?://' }),
    Type.Unsafe<RedisClient>(Type.Object({}))
  ], { description: "a URL like 'redis://localhost:6379', an ioredis or iovalkey client or Cluster, or true to use fastify.redis from @fastify/redis" })),
  /**
   * The algorithm of every limit that names none.
   * @default 'sliding-window'
   * @example { algorithm: 'token-bucket' }
   */
  algorithm: Type.Optional(AlgorithmSchema),
  /**
   * A limit for every route that declares none (one shared bucket per identity across those
   * routes); `config: { rateLimit: false }` opts a route out. No default: only routes with a
   * `config.rateLimit` are limited.
   * @example { global: '100/min' }
   * @example { global: { ip: '300/min', user: '1000/min' } }
   */
  global: Type.Optional(LimitSchema),
  /**
   * Resolves the signed-in user's id: a string or finite number, or `undefined`/`null` for an
   * anonymous request; or a promise of one (awaited).
   * @default (request) => request.user?.id
   * @example { user: (request) => request.user?.sub } // `@fastify/jwt` puts the subject in `sub`
   */
  user: Type.Optional(fn<RequestFunction<Identity>>('a function (request) => string | number | undefined')),
  /**
   * The app-wide key function (@fastify/rate-limit's `keyGenerator`): an API key, a tenant,
   * `(request) => string | number | undefined`, or a promise of one; takes `rate`. Every limit
   * with rates that has no `key` of its own (routes, `global`, `hook()`) counts a request with
   * a key per key, in the `key` bucket: at the limit's own `rate` if it gives one, at the rate
   * of a rate string (`'10/min'`: per key, and per IP for a request without one, at that rate),
   * else at the plugin's `rate`. A request without a key (`undefined`, `null`, `''`) falls back
   * to the limit's `user` or `ip`. A limit's own `key` replaces it; `key: false` turns it off.
   * No default: no app-wide key.
   * @example { key: (request) => request.headers['x-api-key'] as string | undefined, rate: '1000/hour' }
   */
  key: Type.Optional(fn<RequestFunction<Identity>>('a function (request) => string | number | undefined')),
  /**
   * The rate(s) of the plugin's `key` on limits that give no rate for it (an `ip` or `user` rate
   * only): like a route's `rate`, a function of the request too; given exactly when `key` is.
   * No default.
   * @example { key: (request) => request.headers['x-api-key'] as string | undefined, rate: ['100/min', '10000/day'] }
   */
  rate: Type.Optional(RatesSchema),
  /**
   * The request hook the limit runs in; use a later one when authentication runs later.
   * @default 'onRequest'
   * @example { hook: 'preHandler' }
   */
  hook: Type.Optional(Type.Union([Type.Literal('onRequest'), Type.Literal('preValidation'), Type.Literal('preHandler')])),
  /**
   * Prefix of every store key: up to 64 characters of `A-Z a-z 0-9 . _ : -`. Two apps sharing
   * a store keep their buckets apart with different prefixes.
   * @default 'fl'
   * @example { keyPrefix: 'api' }
   */
  keyPrefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{0,64}$', description: 'up to 64 characters of A-Z a-z 0-9 . _ : -' })),
  /**
   * Which rate-limit headers responses carry: `'legacy'` (X-RateLimit-Limit, -Remaining,
   * -Reset), `'ietf'` (RateLimit-Policy and RateLimit of the newest IETF draft revision whose
   * text this project checked: draft-10), `'draft-6'` (RateLimit-Limit, -Remaining, -Reset: what
   * `enableDraftSpec` of Fastify's rate-limit plugin sends), `'draft-7'`, `'draft-8'` (as
   * express-rate-limit sends them), `'draft-10'`, `false` (none), or the legacy format under
   * custom names (HTTP field names). A 429 also carries Retry-After (except with `false`).
   * Routes may override.
   * @default 'legacy'
   * @example { headers: 'ietf' }
   * @example { headers: 'draft-6' }
   */
  headers: Type.Optional(HeadersSchema),
  /**
   * The rate-limit headers of denials (429s, and a ban's 403) when they should differ from
   * `headers` (@fastify/rate-limit's `addHeaders`; `headers` is then its
   * `addHeadersOnExceeding`): the same forms as `headers`, so each field may be renamed or
   * `false` (not sent). Routes may override.
   * @default what `headers` sends (Retry-After included)
   * @example { deniedHeaders: { retryAfter: false } }
   * @example { headers: { limit: false, remaining: false, reset: false }, deniedHeaders: 'legacy' }
   */
  deniedHeaders: Type.Optional(HeadersSchema),
  /**
   * The default 429, ban and 503 bodies: `'plain'` (`{ statusCode, error, message }`) or
   * `'problem'` (RFC 9457 problem details as `application/problem+json`, with the IETF draft's
   * problem types: quota-exceeded, abnormal-usage-detected for a ban, temporary-reduced-capacity
   * for the 503 of `onStoreError: 'deny'`). With an `errorResponseBuilder`, the builder's body
   * is sent (429s and bans), in the format's content type.
   * Routes may override.
   * @default 'plain'
   * @example { errorFormat: 'problem' }
   */
  errorFormat: Type.Optional(ErrorFormatSchema),
  /**
   * The status of a denial (a rate's or a concurrency limit's), from 400 to 599; a ban answers
   * with its own `ban.statusCode`. The default bodies and `context.statusCode` follow it.
   * Routes may override.
   * @default 429
   * @example { statusCode: 503 }
   */
  statusCode: Type.Optional(StatusCodeSchema()),
  /**
   * Builds the 429 body from the request and the denial's context; may return a promise of it.
   * @default (request, context) => ({ statusCode: 429, error: 'Too Many Requests', message: `Rate limit exceeded, retry in ${context.after}` })
   * @example { errorResponseBuilder: (request, context) => ({ code: 'RATE_LIMITED', retryInSeconds: context.retryAfter }) }
   */
  errorResponseBuilder: Type.Optional(fn<(request: FastifyRequest, context: LimitContext) => unknown>('a function (request, context) => body (or a promise of it)')),
  /**
   * Requests never limited (no count, no headers): IPs and CIDRs, or a function of the
   * request returning a boolean or a promise of one (awaited). Routes may override (their list
   * replaces this one). No default: nobody is exempt.
   * @example { exempt: ['127.0.0.1', '10.0.0.0/8', '::1'] }
   * @example { exempt: (request) => request.headers['x-internal'] === process.env.INTERNAL_TOKEN }
   */
  exempt: Type.Optional(ExemptSchema()),
  /**
   * Count and send headers but never block; would-be denials are logged, counted and passed
   * to `onExceeded`. Routes may override.
   * @default false
   * @example { dryRun: process.env.RATE_LIMIT_DRY_RUN === '1' }
   */
  dryRun: Type.Optional(Type.Boolean()),
  /**
   * What a limit does when the store fails or times out: `'fallback'` (decide on a local
   * memory store), `'allow'` (let through) or `'deny'` (503). Routes may override.
   * @default 'fallback'
   * @example { onStoreError: 'deny' }
   */
  onStoreError: Type.Optional(Type.Unsafe<StoreErrorMode>(Type.Union([Type.Literal('fallback'), Type.Literal('allow'), Type.Literal('deny')]))),
  /**
   * The real cost of a request, known once its response is, for every limit that does not say:
   * see the route option `settle`. No default: the charge made on arrival stands.
   * @example { settle: (request, reply) => reply.getHeader('x-tokens-used') as number }
   */
  settle: Type.Optional(fn<SettleFunction>('a function (request, reply) => number')),
  /**
   * Which requests count, for every limit that does not say: `'all'`, `'failed'` (status >=
   * 400), `'successful'` (status < 400), or `(request, reply) => boolean` (or a promise of
   * it). Charged on arrival, refunded once the response has ended (its raw response's `'close'`) when it should not count.
   * Needs a store with `refund()` (the built-in ones have it). Routes may override.
   * @default 'all'
   * @example { count: 'failed' }
   */
  count: Type.Optional(Type.Unsafe<CountMode>(CountSchema)),
  /**
   * A store call slower than this, in ms (1 to 60000), counts as a store error.
   * @default 100
   * @example { storeTimeoutMs: 50 }
   */
  storeTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000 })),
  /**
   * Wait instead of a 429 when the wait is short: a denied request whose `retryAfterMs` is at
   * most `maxMs` waits (an unref'd timer, cleared on close) and is decided again, charged only
   * when it passes. At most `queue` requests wait per route and process (past that, a 429); a
   * client that disconnects while waiting is dropped. Routes may override (`false`: no waiting).
   * @default undefined (a 429 at once)
   * @example { delay: { maxMs: 1000 } }
   */
  delay: Type.Optional(DelaySchema),
  /**
   * Ban identities that keep being denied, for every limit that does not say: after `after`
   * denials within one window of the limit, every request of the identity gets `statusCode`
   * (403) with `Retry-After` for `for` (`extend`: each of them starts it again); each further
   * ban lasts `backoff` times longer, up to `max`. Needs a store with `strike()` (the built-in
   * ones have it). Routes may override (`false`: no ban).
   * @default undefined (no bans)
   * @example { ban: { after: 10, for: '15min', backoff: 2, max: '1d' } }
   */
  ban: Type.Optional(BanSchema),
  /**
   * Called once per ban (exactly once, even with concurrent requests and several processes),
   * with the request whose denial started it and the context of its answer (`banned: true`);
   * sync or async, its failure is logged and never changes the response. Routes may override.
   * No default.
   * @example { onBan: (request, context) => request.log.warn({ route: context.route, retryAfter: context.retryAfter }, 'banned') }
   */
  onBan: Type.Optional(fn<(request: FastifyRequest, context: LimitContext) => void | PromiseLike<void>>('a function (request, context) => void')),
  /**
   * How long a concurrency slot (route `concurrency`) lives at most on SQLite and Redis, in ms
   * (1000 to 86400000): a slot is released when its request ends, and the lease brings back
   * the slots of an app server that crashed. Longer than your slowest request.
   * @default 60000
   * @example { leaseMs: 300_000 }
   */
  leaseMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })),
  /**
   * IPv6 clients are bucketed by this prefix length (1 to 128), since one client usually
   * holds a whole /64.
   * @default 64
   * @example { ipv6Subnet: 56 }
   */
  ipv6Subnet: Type.Optional(Type.Integer({ minimum: 1, maximum: 128 })),
  /**
   * Called for every request a limit allows (@fastify/rate-limit's `onExceeding`), with its
   * decision and the limit's route (`context.remaining`: what is left); its errors (and
   * rejections) are logged, never thrown, and the response does not wait for it. Routes may
   * override. No default.
   * @example { onExceeding: (request, context) => { if (context.remaining < 10) request.log.info({ route: context.route }, 'near the limit') } }
   */
  onExceeding: Type.Optional(fn<OnExceeding>('a function (request, context) => void')),
  /**
   * Called on every denial, dry-run ones too; its errors (and rejections, when it returns a
   * promise) are logged, never thrown, and the response does not wait for it. Routes may
   * override. No default.
   * @example { onExceeded: (request, context) => request.log.info({ route: context.route }, 'rate limited') }
   */
  onExceeded: Type.Optional(fn<OnExceeded>('a function (request, context) => void')),
  /**
   * `() => epoch milliseconds`: every decision is made at `clock()`. For tests.
   * @default each store's own clock (`Date.now`; Redis: the server's `TIME`)
   * @example { clock: () => fakeNow }
   */
  clock: Type.Optional(fn<() => number>('a function () => epoch milliseconds')),
  /**
   * With `@fastify/swagger` registered, document each limited route's 429, headers and limits;
   * `false` leaves the OpenAPI document alone; `{ errorSchema }` describes a custom 429 body.
   * @default true
   * @example { openapi: { errorSchema: { type: 'object', properties: { code: { type: 'string' } } } } }
   */
  openapi: Type.Optional(Type.Union([
    Type.Boolean(),
    Type.Object({
      /**
       * The JSON schema of your 429 body, for the OpenAPI document.
       * @default the schema of the default body; none with a custom `errorResponseBuilder`
       * @example { openapi: { errorSchema: { type: 'object', properties: { code: { type: 'string' } } } } }
       */
      errorSchema: Type.Optional(Type.Unsafe<Record<string, unknown>>(Type.Object({}, { description: 'the JSON schema of your 429 body, an object' })))
    }, { additionalProperties: false })
  ], { description: 'true, false, or { errorSchema } (the JSON schema of your 429 body)' })),
  /**
   * Expose the counters to prom-client (an optional peer dependency): `true` for its default
   * registry, or `{ registry, prefix }`.
   * @default false
   * @example { metrics: true }
   */
  metrics: Type.Optional(Type.Union([
    Type.Boolean(),
    Type.Object({
      /**
       * The prom-client registry the metrics are registered in.
       * @default prom-client's default registry (`register`)
       * @example { metrics: { registry: new Registry() } }
       */
      registry: Type.Optional(Type.Unsafe<MetricsRegistry>(Type.Object({}, { description: 'a prom-client Registry' }))),
      /**
       * Prefix of the metric names (`A-Z a-z 0-9 _ :`); give each plugin instance on one
       * registry its own.
       * @default 'fastify_limiter_'
       * @example { metrics: { prefix: 'api_limiter_' } }
       */
      prefix: Type.Optional(Type.String({ pattern: '^([A-Za-z_:][A-Za-z0-9_:]*)?$', description: 'a metric-name prefix of A-Z a-z 0-9 _ : (no digit first)' }))
    }, { additionalProperties: false })
  ], { description: "true (prom-client's default registry), false, or { registry, prefix }" })),
  /**
   * The denial log lines, written through `request.log`: their levels, and how the client
   * appears in them.
   * @default { denied: 'debug', dryRun: 'warn', identity: 'hash' }
   * @example { log: { denied: 'warn', identity: false } }
   */
  log: Type.Optional(Type.Object({
    /**
     * Level of the line for a denial answered with a 429, or `false` for none.
     * @default 'debug'
     * @example { log: { denied: 'info' } }
     */
    denied: Type.Optional(LogLevelSchema),
    /**
     * Level of the line for a dry-run denial (let through), or `false` for none.
     * @default 'warn'
     * @example { log: { dryRun: 'info' } }
     */
    dryRun: Type.Optional(LogLevelSchema),
    /**
     * How the client appears in the line: `'hash'` (a keyed hash, random key per plugin
     * instance, so it cannot be reversed by guessing IPs), `'raw'` (as is) or `false` (not at all).
     * @default 'hash'
     * @example { log: { identity: 'raw' } }
     */
    identity: Type.Optional(Type.Union([Type.Literal('hash'), Type.Literal('raw'), Type.Literal(false)]))
  }, { additionalProperties: false }))
}, { additionalProperties: false })

/** A route's `config.rateLimit`, as TypeScript sees it. */
export type RouteRateLimit = Static<typeof RouteLimitSchema>
/** A limit (route config without `false`): what `global` and `fastify.rateLimit.hook()` take. */
export type RateLimit = Static<typeof LimitSchema>
/** The object form of a limit. */
export type RateLimitObject = Static<typeof LimitObjectSchema>
/** The plugin options. */
export type FastifyLimiterOptions = Static<typeof PluginOptionsSchema>
