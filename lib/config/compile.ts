import { algorithms } from '../../algorithms/index.js'
import type { Algorithm } from '../core/algorithm.js'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { BucketKind, CompiledKind, CompiledLimit, CompiledRate, CompiledSlots, DelaySettings, ResolvedOptions } from '../core/types.js'
import { compileHeaders, policyItem, policyName } from '../request/headers.js'
import { PROBLEM_CONTENT_TYPE, errorResponseFor } from '../request/response.js'
import { keyHead, keyTail } from '../request/keys.js'
import { MAX_RATE_PRODUCT, parseRate } from './rate.js'
import type { RateLimit, RateLimitObject } from './schema.js'

/** A checked limit and where it was declared: what `compileLimit` turns into a `CompiledLimit`. */
export interface LimitDeclaration {
  readonly limit: RateLimit
  /** Who declared it, for errors: `'Route POST /upload'`, `'fastify-limiter option'`. */
  readonly where: string
  /** The option path, for errors: `'config.rateLimit'`, `'global'`, `'limit'`. */
  readonly path: string
  /** What logs, metrics and the 429 context call it: the route label, a group, `'global'`. */
  readonly route: string
  /** The bucket namespace. */
  readonly id: string
  /**
   * What keeps limits of different origins apart in the store: `''` for routes and `global`,
   * `'group='` for groups, `'hook<n>='` for the n-th `hook()` limit (see keyHead).
   * @default ''
   */
  readonly namespace?: string
}

/** One bucket kind of a limit, as `compileKind` needs it. */
interface KindDeclaration {
  readonly kind: BucketKind
  readonly rates: NonNullable<RateLimitObject['ip']>
  readonly path: string
  readonly where: string
  readonly id: string
  readonly namespace: string
  readonly routeTag: boolean
  readonly algorithm: Algorithm<any>
  readonly burst: number | undefined
  readonly prefix: string
}

/**
 * Compiles a checked limit. Rates are parsed, the algorithm picked, keys' fixed parts and
 * header values built here, once, so that a request only resolves its identity and asks the
 * store. `where` and `path` name the declaration in errors.
 */
export function compileLimit (declaration: LimitDeclaration, options: ResolvedOptions): CompiledLimit {
  const { limit, where, path, route, id, namespace = '' } = declaration
  const spec: RateLimitObject = typeof limit === 'string' ? { ip: limit } : limit
  const field = (name: string) => typeof limit === 'string' ? path : `${path}.${name}`
  if (spec.ip === undefined && spec.user === undefined && spec.key === undefined) {
    throw new errors.INVALID_ROUTE_CONFIG(where, path, 'a limit needs ip, user, or key with rate')
  }
  if ((spec.key === undefined) !== (spec.rate === undefined)) {
    const [present, missing] = spec.key === undefined ? ['rate', 'key'] : ['key', 'rate']
    throw new errors.INVALID_ROUTE_CONFIG(where, field(present), `${present} needs ${missing} (key and rate go together)`)
  }
  const algorithm = spec.algorithm === undefined ? options.algorithm : algorithms[spec.algorithm]
  if (spec.burst !== undefined && !algorithm.usesBurst) {
    throw new errors.INVALID_ROUTE_CONFIG(where, field('burst'), `burst applies to token-bucket, leaky-bucket and gcra, not ${algorithm.name}`)
  }
  const apply = spec.apply ?? 'first'
  const kind = (name: BucketKind, rates: RateLimitObject['ip']) => rates === undefined
    ? undefined
    : compileKind({
      kind: name,
      rates,
      path: field(name === 'key' ? 'rate' : name),
      where,
      id,
      namespace,
      routeTag: apply === 'all',
      algorithm,
      burst: spec.burst,
      prefix: options.keyPrefix
    })
  const ip = kind('ip', spec.ip)
  const user = kind('user', spec.user)
  const key = kind('key', spec.rate)
  const maxCost = Math.min(...[ip, user, key].flatMap((k) => k === undefined ? [] : k.rates.map((r) => r.params.burst)))
  const cost = spec.cost ?? 1
  if (typeof cost === 'number' && cost > maxCost) {
    throw new errors.INVALID_ROUTE_CONFIG(where, field('cost'), `cost ${cost} exceeds the smallest capacity of the limit (${maxCost}), so no request could ever pass`)
  }
  return Object.freeze({
    route,
    where,
    id,
    namespace,
    ip,
    user,
    key,
    keyFn: spec.key,
    cost,
    maxCost,
    dryRun: spec.dryRun ?? options.dryRun,
    onStoreError: spec.onStoreError ?? options.onStoreError,
    ...responseOf(spec, options),
    apply,
    delay: spec.delay === undefined ? options.delay : resolveDelay(spec.delay),
    concurrency: compileConcurrency(spec, declaration, options, apply === 'all')
  })
}

/** The limit's `concurrency`: a slot key head and a limit per kind; checked against the store. */
function compileConcurrency (spec: RateLimitObject, declaration: LimitDeclaration, options: ResolvedOptions, routeTag: boolean): CompiledLimit['concurrency'] {
  const { concurrency } = spec
  if (concurrency === undefined) return undefined
  const { where, path, id, namespace = '' } = declaration
  if (concurrency.key !== undefined && spec.key === undefined) {
    throw new errors.INVALID_ROUTE_CONFIG(where, `${path}.concurrency.key`, 'concurrency.key needs the limit\'s key function (key and rate)')
  }
  const missing = ['acquire', 'release'].filter((m) => typeof (options.store as unknown as Record<string, unknown>)[m] !== 'function')
  if (missing.length > 0) {
    throw new errors.INVALID_ROUTE_CONFIG(where, `${path}.concurrency`, `the store has no ${missing.join('() or ')}(), which concurrency limits need`)
  }
  const compiled: Partial<Record<BucketKind, CompiledSlots>> = {}
  for (const kind of ['ip', 'user', 'key'] as const) {
    const limit = concurrency[kind]
    if (limit === undefined) continue
    compiled[kind] = Object.freeze({ kind, limit, head: keyHead(options.keyPrefix, id, kind, namespace, routeTag), text: `${limit} in flight` })
  }
  return Object.freeze(compiled)
}

/** Most requests waiting per limit and process, by default. */
const DEFAULT_DELAY_QUEUE = 1000

/** The `delay` option (plugin or route), defaulted; `false` and undefined mean no waiting. */
export function resolveDelay (delay: RateLimitObject['delay']): DelaySettings | undefined {
  if (delay === undefined || delay === false) return undefined
  return Object.freeze({ maxMs: delay.maxMs, queue: delay.queue ?? DEFAULT_DELAY_QUEUE })
}

/**
 * The limit's headers and 429 body: the route's `headers` and `errorFormat` where given, else
 * the plugin's. The user's `errorResponseBuilder` builds the body whatever the format; the
 * format still sets the content type.
 */
function responseOf (spec: RateLimitObject, options: ResolvedOptions) {
  const headers = spec.headers ?? options.headers
  const errorFormat = spec.errorFormat ?? options.errorFormat
  return {
    headers,
    writeHeaders: spec.headers === undefined ? options.writeHeaders : compileHeaders(spec.headers),
    errorFormat,
    errorResponseBuilder: options.customErrorResponse ?? errorResponseFor(errorFormat),
    errorContentType: errorFormat === 'problem' ? PROBLEM_CONTENT_TYPE : undefined
  }
}

function compileKind (declaration: KindDeclaration): CompiledKind {
  const { kind, rates: input, path, where, id, namespace, routeTag, algorithm, burst, prefix } = declaration
  const list = Array.isArray(input) ? input : [input]
  const rates = list.map((entry, i): CompiledRate => {
    const at = Array.isArray(input) ? `${path}[${i}]` : path
    const rate = parseRate(entry, where, at)
    const capacity = burst ?? rate.limit
    if (capacity > rate.limit * 1000 || capacity * rate.windowMs > MAX_RATE_PRODUCT) {
      throw new errors.INVALID_ROUTE_CONFIG(where, at, `burst ${capacity} is too large for ${formatValue(rate.text)} (at most 1000 × the limit, and burst × window in ms at most ${MAX_RATE_PRODUCT})`)
    }
    return {
      text: rate.text,
      algorithm,
      params: Object.freeze({ limit: rate.limit, windowMs: rate.windowMs, burst: capacity }),
      tail: keyTail(algorithm.code, rate.limit, rate.windowMs, algorithm.usesBurst ? capacity : undefined),
      policyName: policyName(kind, rate.text)
    }
  })
  const seen = new Set(rates.map((r) => r.tail))
  if (seen.size !== rates.length) {
    throw new errors.INVALID_ROUTE_CONFIG(where, path, 'the same rate is listed twice')
  }
  return Object.freeze({
    kind,
    head: keyHead(prefix, id, kind, namespace, routeTag),
    rates: Object.freeze(rates),
    policy: rates.map((r) => policyItem(kind, r.text, r.params.limit, r.params.windowMs)).join(', ')
  })
}
