import type { FastifyRequest } from 'fastify'
import { algorithms } from '../algorithms/index.js'
import type { Algorithm, AlgorithmParams } from '../algorithms/types.js'
import type { BucketKind } from './context.js'
import type { StoreErrorMode } from './guard.js'
import { errors } from './errors.js'
import { policyItem, policyName } from './headers.js'
import { keyHead, keyTail } from './keys.js'
import type { ResolvedOptions } from './options.js'
import { MAX_RATE_PRODUCT, parseRate } from './rate.js'
import type { Identity, RateLimit, RateLimitObject } from './schema.js'
import { formatValue } from './validate.js'

/** One rate of a bucket kind, with everything a request needs precomputed. */
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
  readonly rates: readonly CompiledRate[]
  /** The serialized RateLimit-Policy field for these rates. */
  readonly policy: string
}

/** A limit compiled for one route (or group, or the global limit). */
export interface CompiledLimit {
  /** What logs and the 429 context call it: `'POST /upload'`, a group name, `'global'`. */
  readonly route: string
  /** What request-time errors call it: `'Route POST /upload'`. */
  readonly where: string
  /** The bucket namespace: the route (HEAD shares GET's), the group, or `'*'` for `global`. */
  readonly id: string
  readonly ip: CompiledKind | undefined
  readonly user: CompiledKind | undefined
  readonly key: CompiledKind | undefined
  readonly keyFn: ((request: FastifyRequest) => Identity) | undefined
  readonly cost: number | ((request: FastifyRequest) => number)
  /** The largest cost every rate can ever allow (the smallest burst). */
  readonly maxCost: number
  readonly dryRun: boolean
  readonly onStoreError: StoreErrorMode
}

/**
 * Compiles a checked limit. Rates are parsed, the algorithm picked, keys' fixed parts and
 * header values built here, once, so that a request only resolves its identity and asks the
 * store. `where` and `path` name the declaration in errors.
 */
export function compileLimit (
  limit: RateLimit,
  where: string,
  path: string,
  route: string,
  id: string,
  options: ResolvedOptions
): CompiledLimit {
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
  const kind = (name: BucketKind, rates: RateLimitObject['ip']) => rates === undefined
    ? undefined
    : compileKind(name, rates, field(name === 'key' ? 'rate' : name), where, id, algorithm, spec.burst, options.keyPrefix)
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
    ip,
    user,
    key,
    keyFn: spec.key,
    cost,
    maxCost,
    dryRun: spec.dryRun ?? options.dryRun,
    onStoreError: spec.onStoreError ?? options.onStoreError
  })
}

function compileKind (
  kind: BucketKind,
  input: NonNullable<RateLimitObject['ip']>,
  path: string,
  where: string,
  id: string,
  algorithm: Algorithm<any>,
  burst: number | undefined,
  prefix: string
): CompiledKind {
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
    head: keyHead(prefix, id, kind),
    rates: Object.freeze(rates),
    policy: rates.map((r) => policyItem(kind, r.text, r.params.limit, r.params.windowMs)).join(', ')
  })
}
