import type { FastifyRequest } from 'fastify'
import { algorithms } from '../../algorithms/index.js'
import type { Algorithm } from '../core/algorithm.js'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { BucketKind, CompiledKind, CompiledLimit, CompiledRate, CompiledSlots, ResolvedOptions } from '../core/types.js'
import { compileExempt } from '../request/exempt.js'
import { compileHeaders, policyItem, policyName, retryAfterHeader } from '../request/headers.js'
import { PROBLEM_CONTENT_TYPE } from '../core/problem-types.js'
import { errorResponseFor } from '../request/response.js'
import { keyHead, keyTail } from '../request/keys.js'
import { failFor } from './check.js'
import type { Fail } from './check.js'
import { checkCount, checkSettle, resolveBan, resolveDelay } from './limit-options.js'
import { MAX_RATE_PRODUCT, parseRates } from './rate.js'
import type { RateInput } from './rate.js'
import type { PluginSettings } from './options.js'
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
  /** The limit's fixed cost (1 with a cost function): a returned rate must allow it. */
  readonly cost: number
}

/** Most distinct rates a rate function's kind keeps compiled (least recently used dropped past that). */
export const RATE_CACHE_SIZE = 1000

/**
 * Compiles a checked limit. Rates are parsed, the algorithm picked, keys' fixed parts and
 * header values built here, once, so that a request only resolves its identity and asks the
 * store. `where` and `path` name the declaration in errors.
 */
export function compileLimit (declaration: LimitDeclaration, options: PluginSettings): CompiledLimit {
  const { limit, where, path, route, id, namespace = '' } = declaration
  // under a plugin key, a rate string counts per key at its rate, and per IP without a key
  const spec: RateLimitObject = typeof limit !== 'string' ? limit : options.key === undefined ? { ip: limit } : { rate: limit, ip: limit }
  const field = (name: string) => typeof limit === 'string' ? path : `${path}.${name}`
  const fail = failFor(where)
  const rates = spec.ip !== undefined || spec.user !== undefined || spec.rate !== undefined
  if (!rates && spec.concurrency === undefined) {
    throw fail(path, 'ip, user, key with rate, or concurrency (a limit needs one of them)', formatValue(limit))
  }
  for (const name of ['ban', 'delay'] as const) {
    if (!rates && spec[name] !== undefined && spec[name] !== false) {
      throw fail(field(name), `a rate beside ${name} (ip, user, or key with rate: ${name} acts on a rate's denials)`, 'a limit with only concurrency')
    }
  }
  const { keyFn, keyRates, keyRatesPath } = keyOf(spec, options, field, fail)
  const algorithm = spec.algorithm === undefined ? options.algorithm : algorithms[spec.algorithm]
  if (spec.burst !== undefined && !algorithm.usesBurst) {
    throw fail(field('burst'), `no burst with ${algorithm.name} (burst applies to token-bucket, leaky-bucket and gcra)`, formatValue(spec.burst))
  }
  const apply = spec.apply ?? 'first'
  const kind = (name: BucketKind, rates: RateLimitObject['ip']) => rates === undefined
    ? undefined
    : compileKind({
      kind: name,
      rates,
      path: name === 'key' ? keyRatesPath : field(name),
      where,
      id,
      namespace,
      routeTag: apply === 'all',
      algorithm,
      burst: spec.burst,
      prefix: options.keyPrefix,
      cost: typeof spec.cost === 'number' ? spec.cost : 1
    })
  const ip = kind('ip', spec.ip)
  const user = kind('user', spec.user)
  const key = kind('key', keyRates)
  const maxCost = Math.min(...[ip, user, key].map((k) => k === undefined ? Infinity : k.maxCost))
  const cost = spec.cost ?? 1
  if (typeof cost === 'number' && cost > maxCost) {
    throw fail(field('cost'), `a cost of at most ${maxCost}, the smallest capacity of the limit (no request could pass a higher one)`, String(cost))
  }
  const exempt = spec.exempt === undefined ? options.exempt : compileExempt(spec.exempt, fail, field('exempt'))
  return Object.freeze({
    route,
    where,
    id,
    namespace,
    algorithm,
    dynamic: [ip, user, key].some((k) => k?.dynamic !== undefined),
    plain: ip !== undefined && ip.dynamic === undefined && user === undefined && key === undefined && typeof cost === 'number' &&
      spec.concurrency === undefined && exempt === undefined,
    ip,
    user,
    key,
    keyFn,
    exempt,
    cost,
    maxCost,
    dryRun: spec.dryRun ?? options.dryRun,
    onStoreError: spec.onStoreError ?? options.onStoreError,
    ...responseOf(spec, options),
    apply,
    count: spec.count === undefined ? options.count : checkCount(options.store, spec.count, where, field('count')),
    settle: spec.settle === undefined ? options.settle : checkSettle(options.store, spec.settle, where, field('settle')),
    delay: spec.delay === undefined ? options.delay : resolveDelay(spec.delay),
    concurrency: compileConcurrency(spec, keyFn, declaration, options, apply === 'all'),
    ban: compileBan(spec, where, field, options),
    onExceeding: spec.onExceeding ?? options.onExceeding,
    onExceeded: spec.onExceeded ?? options.onExceeded
  })
}

/**
 * The limit's key function and the rates of its key bucket: its own `key` with its `rate`; else
 * the plugin's `key` (unless `key: false`) with the limit's `rate` (a rate string's own rate
 * included), or, for a limit with only `ip` and `user` rates, the plugin's `rate`. A limit with
 * only concurrency takes a key function only for its `concurrency.key`.
 */
function keyOf (spec: RateLimitObject, options: PluginSettings, field: (name: string) => string, fail: Fail): {
  keyFn: CompiledLimit['keyFn']
  keyRates: RateLimitObject['rate']
  keyRatesPath: string
} {
  const own = spec.key === false ? undefined : spec.key
  if (own === undefined && spec.rate !== undefined && (spec.key === false || options.key === undefined)) {
    throw spec.key === false
      ? fail(field('rate'), "no rate beside key: false (a limit's rate is its key's, and key: false turns the plugin's key off)", 'rate with key: false')
      : fail(field('rate'), 'key beside rate (key and rate go together)', 'rate without key')
  }
  // a key without rate counts only the concurrency slots of its identities
  if (own !== undefined && spec.rate === undefined && spec.concurrency?.key === undefined) {
    throw fail(field('key'), 'rate beside key (key and rate go together)', 'key without rate')
  }
  if (own !== undefined) return { keyFn: own, keyRates: spec.rate, keyRatesPath: field('rate') }
  const inherited = spec.key === false ? undefined : options.key
  if (inherited === undefined) return { keyFn: undefined, keyRates: undefined, keyRatesPath: field('rate') }
  if (spec.rate !== undefined) return { keyFn: inherited, keyRates: spec.rate, keyRatesPath: field('rate') }
  const keyRatesPath = `${field('rate')} (the plugin's rate)`
  if (spec.ip === undefined && spec.user === undefined) {
    // a limit with only concurrency: the plugin's key counts its concurrency.key slots, no rate
    const slots = spec.concurrency as NonNullable<RateLimitObject['concurrency']>
    return { keyFn: slots.key === undefined ? undefined : inherited, keyRates: undefined, keyRatesPath }
  }
  return { keyFn: inherited, keyRates: options.rate, keyRatesPath }
}

/** The limit's `ban`: its own (`false`: none), else the plugin's; its own `onBan`, else the plugin's. */
function compileBan (spec: RateLimitObject, where: string, field: (name: string) => string, options: ResolvedOptions): CompiledLimit['ban'] {
  const onBan = spec.onBan ?? options.onBan
  if (spec.onBan !== undefined && (spec.ban === false || (spec.ban === undefined && options.ban === undefined))) {
    throw failFor(where)(field('onBan'), "a ban beside onBan (the limit's or the plugin's)", 'onBan without a ban')
  }
  if (spec.ban === false) return undefined
  if (spec.ban === undefined) {
    if (options.ban === undefined || spec.onBan === undefined) return options.ban
    return Object.freeze({ ...options.ban, onBan })
  }
  return resolveBan({ ban: spec.ban, onBan, store: options.store }, { where, path: field('ban'), fail: failFor(where) })
}

/** The limit's `concurrency`: a slot key head and a limit per kind; checked against the store. */
function compileConcurrency (
  spec: RateLimitObject, keyFn: CompiledLimit['keyFn'], declaration: LimitDeclaration, options: ResolvedOptions, routeTag: boolean
): CompiledLimit['concurrency'] {
  const { concurrency } = spec
  if (concurrency === undefined) return undefined
  const { where, path, id, namespace = '' } = declaration
  if (concurrency.key !== undefined && keyFn === undefined) {
    throw failFor(where)(`${path}.concurrency.key`, "the limit's key function beside it (key and rate)", 'concurrency.key without a key')
  }
  const missing = ['acquire', 'release'].filter((m) => typeof (options.store as unknown as Record<string, unknown>)[m] !== 'function')
  if (missing.length > 0) {
    // the same code as count and peek without the store methods they need
    throw new errors.STORE_LACKS_METHOD(where, `${path}.concurrency`, missing.join('() and '))
  }
  const compiled: Partial<Record<BucketKind, CompiledSlots>> = {}
  for (const kind of ['ip', 'user', 'key'] as const) {
    const limit = concurrency[kind]
    if (limit === undefined) continue
    compiled[kind] = Object.freeze({ kind, limit, head: keyHead({ prefix: options.keyPrefix, route: id, kind, namespace, routeTag }), text: `${limit} in flight` })
  }
  return Object.freeze(compiled)
}

/**
 * The limit's headers, denial status and body: the route's `headers`, `deniedHeaders`,
 * `statusCode` and `errorFormat` where given, else the plugin's. The user's `errorResponseBuilder` builds the body whatever the format; the
 * format still sets the content type.
 */
function responseOf (spec: RateLimitObject, options: ResolvedOptions) {
  const headers = spec.headers ?? options.headers
  const writeHeaders = spec.headers === undefined ? options.writeHeaders : compileHeaders(spec.headers)
  const deniedHeaders = spec.deniedHeaders ?? options.deniedHeaders ?? headers
  const errorFormat = spec.errorFormat ?? options.errorFormat
  return {
    headers,
    writeHeaders,
    deniedHeaders,
    // one writer for both when denials send what `headers` says (the common case)
    writeDeniedHeaders: deniedHeaders === headers ? writeHeaders : compileHeaders(deniedHeaders),
    retryAfterHeader: retryAfterHeader(deniedHeaders),
    statusCode: spec.statusCode ?? options.statusCode,
    errorFormat,
    errorResponseBuilder: options.customErrorResponse ?? errorResponseFor(errorFormat),
    errorContentType: errorFormat === 'problem' ? PROBLEM_CONTENT_TYPE : undefined
  }
}

function compileKind (declaration: KindDeclaration): CompiledKind {
  if (typeof declaration.rates === 'function') return dynamicKind(declaration, declaration.rates)
  return staticKind(declaration, declaration.rates)
}

/**
 * A kind whose rates a function returns per request: each distinct value is compiled once,
 * like a declared rate, and kept in a bounded LRU cache. An invalid value is a request-time
 * FST_LIMITER_INVALID_RATE_RESULT naming the route; it is not cached.
 */
function dynamicKind (declaration: KindDeclaration, fn: (request: FastifyRequest) => unknown): CompiledKind {
  const { kind, where, path, cost } = declaration
  const cache = new Map<string, CompiledKind>()
  const compile = (value: unknown): CompiledKind | undefined => {
    if (value === undefined) return undefined
    // strings and the rest apart: the string '["10/min"]' is not the array ['10/min']
    let text: string
    try {
      text = typeof value === 'string' ? 's' + value : 'j' + JSON.stringify(value)
    } catch {
      throw new errors.INVALID_RATE_RESULT(where, kind, formatValue(value), 'not a plain value')
    }
    let compiled = cache.get(text)
    if (compiled !== undefined) {
      // most recently used last: the first key is the one to drop
      cache.delete(text)
      cache.set(text, compiled)
      return compiled
    }
    if (!(typeof value === 'string' || (value !== null && typeof value === 'object' && (!Array.isArray(value) || value.length > 0)))) {
      throw new errors.INVALID_RATE_RESULT(where, kind, formatValue(value), 'not a rate')
    }
    try {
      compiled = staticKind({ ...declaration, path: `${path} (returned)` }, value as RateInput | RateInput[])
    } catch (err) {
      throw new errors.INVALID_RATE_RESULT(where, kind, formatValue(value), (err as Error).message)
    }
    if (cost > compiled.maxCost) {
      throw new errors.INVALID_RATE_RESULT(where, kind, formatValue(value), `cost ${cost} exceeds its capacity (${compiled.maxCost}), so no request could ever pass`)
    }
    if (cache.size >= RATE_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
    cache.set(text, compiled)
    return compiled
  }
  return Object.freeze({
    kind,
    head: keyHead({ prefix: declaration.prefix, route: declaration.id, kind, namespace: declaration.namespace, routeTag: declaration.routeTag }),
    rates: Object.freeze([]),
    policy: '',
    maxCost: Infinity,
    dynamic: Object.freeze({ fn, compile, known: () => cache.values() })
  })
}

function staticKind (declaration: KindDeclaration, input: RateInput | RateInput[]): CompiledKind {
  const { kind, where, id, namespace, routeTag, algorithm, burst, prefix } = declaration
  const rates = parseRates(input, where, declaration.path).map(({ rate, at }): CompiledRate => {
    const capacity = burst ?? rate.limit
    if (capacity > rate.limit * 1000 || capacity * rate.windowMs > MAX_RATE_PRODUCT) {
      throw failFor(where)(at, `a burst of at most 1000 × the limit, and burst × window in ms at most ${MAX_RATE_PRODUCT}`, `burst ${capacity} for ${formatValue(rate.text)}`)
    }
    return {
      text: rate.text,
      algorithm,
      params: Object.freeze({ limit: rate.limit, windowMs: rate.windowMs, burst: capacity }),
      tail: keyTail(algorithm.code, rate.limit, rate.windowMs, algorithm.usesBurst ? capacity : undefined),
      policyName: policyName(kind, rate.text)
    }
  })
  return Object.freeze({
    kind,
    head: keyHead({ prefix, route: id, kind, namespace, routeTag }),
    rates: Object.freeze(rates),
    policy: rates.map((r) => policyItem(kind, r.text, r.params.limit, r.params.windowMs)).join(', '),
    maxCost: Math.min(...rates.map((r) => r.params.burst)),
    dynamic: undefined
  })
}
