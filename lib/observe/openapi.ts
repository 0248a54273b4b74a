import { STATUS_CODES } from 'node:http'
import type { FastifyInstance, RouteOptions } from 'fastify'
import type { BucketKind, CompiledKind, CompiledLimit, ErrorFormat, HeaderFields, HeaderFormat, HeaderNames, OpenApiDocs } from '../core/types.js'
import { PROBLEM_CONTENT_TYPE, problemTypes } from '../core/problem-types.js'

/** The `openapi` option: `false` to leave the OpenAPI document alone, or the 429 body's schema. */
export type OpenApiInput = boolean | {
  /** JSON schema of the 429 body your `errorResponseBuilder` returns. Default: the default body's schema. */
  errorSchema?: Record<string, unknown>
}

type Schema = Record<string, unknown>

/** The schema of the default 429 body (lib/request/response.ts). */
export const defaultErrorSchema: Schema = Object.freeze({
  type: 'object',
  properties: {
    statusCode: { type: 'integer', enum: [429] },
    error: { type: 'string', enum: ['Too Many Requests'] },
    message: { type: 'string', example: 'Rate limit exceeded, retry in 42 seconds' }
  },
  required: ['statusCode', 'error', 'message']
})

/** The schema of the `errorFormat: 'problem'` body (lib/request/response.ts). */
export const problemErrorSchema: Schema = Object.freeze({
  type: 'object',
  properties: {
    type: { type: 'string', enum: [problemTypes.quotaExceeded.type] },
    title: { type: 'string', enum: [problemTypes.quotaExceeded.title] },
    status: { type: 'integer', enum: [429] },
    detail: { type: 'string', example: 'Rate limit exceeded, retry in 42 seconds' },
    'violated-policies': {
      type: 'array',
      items: { type: 'string' },
      description: 'The exceeded policy, named as in the RateLimit-Policy header.',
      example: ['ip-10/min']
    }
  },
  required: ['type', 'title', 'status', 'detail', 'violated-policies']
})

const retryAfter = { type: 'integer', minimum: 0, description: 'Seconds until the same request will be allowed (rounded up).' }

const legacyFields: Record<keyof HeaderNames, Schema> = {
  limit: { type: 'integer', minimum: 1, description: 'The limit of the most restrictive window (in cost units).' },
  remaining: { type: 'integer', minimum: 0, description: 'Cost units left in that window.' },
  reset: { type: 'integer', description: 'Unix epoch seconds at which that window is fully available again.' },
  retryAfter
}

/** The fields of draft-10, which `ietf` sends too (the newest revision checked). */
const ietfHeaders = {
  'RateLimit-Policy': { type: 'string', description: 'The quota policies of the bucket that applied (draft-ietf-httpapi-ratelimit-headers-10): `"ip-10/min";q=10;w=60`.' },
  RateLimit: { type: 'string', description: 'The most restrictive policy\'s remaining units and seconds until more are available (on a 429, Retry-After): `"ip-10/min";r=9;t=60`.' }
}

/** The fields of each IETF draft revision the `headers` option names. */
const draftHeaders: Record<'draft-6' | 'draft-7' | 'draft-8', Schema> = {
  'draft-6': {
    'RateLimit-Limit': { type: 'integer', minimum: 1, description: 'The limit of the most restrictive window (draft-ietf-httpapi-ratelimit-headers-06).' },
    'RateLimit-Remaining': { type: 'integer', minimum: 0, description: 'Cost units left in that window.' },
    'RateLimit-Reset': { type: 'integer', minimum: 0, description: 'Seconds until that window is fully available again.' }
  },
  'draft-7': {
    'RateLimit-Policy': { type: 'string', description: 'The limit and window in seconds of the most restrictive window (draft-ietf-httpapi-ratelimit-headers-07): `10;w=60`.' },
    RateLimit: { type: 'string', description: 'Its limit, remaining units and seconds to reset: `limit=10, remaining=9, reset=60`.' }
  },
  'draft-8': {
    'RateLimit-Policy': { type: 'string', description: 'The quota policies of the bucket that applied, with a partition key (draft-ietf-httpapi-ratelimit-headers-08): `"ip-10/min"; q=10; w=60; pk=:NjZlZmM4ZWFhNzU5:`.' },
    RateLimit: { type: 'string', description: 'The most restrictive policy\'s remaining units and seconds to reset: `"ip-10/min"; r=9; t=60`.' }
  }
}

const unavailableDescription = "Service Unavailable: the rate-limit store failed and the route's onStoreError is 'deny'."
const unavailableHeaders = { 'Retry-After': { type: 'integer', minimum: 0, description: 'Seconds until the store is asked again.' } }

/**
 * The 503 of `onStoreError: 'deny'` (lib/request/respond.ts) in the limit's `errorFormat`: no
 * rate-limit headers, since nothing was decided; problem details of the draft's
 * temporary-reduced-capacity type with `errorFormat: 'problem'`.
 */
function unavailableResponse (limit: CompiledLimit, mediaTypes: boolean): Schema {
  if (limit.errorFormat === 'plain') {
    return {
      'x-response-description': unavailableDescription,
      type: 'object',
      properties: {
        statusCode: { type: 'integer', enum: [503] },
        error: { type: 'string', enum: ['Service Unavailable'] },
        message: { type: 'string' }
      },
      required: ['statusCode', 'error', 'message'],
      headers: unavailableHeaders
    }
  }
  const body: Schema = {
    type: 'object',
    properties: {
      type: { type: 'string', enum: [problemTypes.reducedCapacity.type] },
      title: { type: 'string', enum: [problemTypes.reducedCapacity.title] },
      status: { type: 'integer', enum: [503] },
      detail: { type: 'string' }
    },
    required: ['type', 'title', 'status', 'detail']
  }
  return mediaTypes
    ? { 'x-response-description': unavailableDescription, content: { [PROBLEM_CONTENT_TYPE]: { schema: body } }, headers: unavailableHeaders }
    : { ...body, 'x-response-description': unavailableDescription, headers: unavailableHeaders }
}

const displayNames: HeaderNames = { limit: 'X-RateLimit-Limit', remaining: 'X-RateLimit-Remaining', reset: 'X-RateLimit-Reset', retryAfter: 'Retry-After' }

/**
 * The response headers a header format sends (`headers` on every response, `deniedHeaders` on a
 * denial, where Retry-After is added): the fields of its names, a field given as `false` left out.
 */
function headerDocs (format: HeaderFormat, denial: boolean): Schema {
  if (format === false) return {}
  if (typeof format === 'string' && format !== 'legacy') {
    const fields = format === 'ietf' || format === 'draft-10' ? ietfHeaders : draftHeaders[format]
    return denial ? { ...fields, 'Retry-After': retryAfter } : fields
  }
  const names: HeaderFields = format === 'legacy' ? displayNames : { ...displayNames, ...format }
  const docs: Schema = {}
  for (const field of ['limit', 'remaining', 'reset', 'retryAfter'] as const) {
    const name = names[field]
    if (name !== false && (denial || field !== 'retryAfter')) docs[name] = legacyFields[field]
  }
  return docs
}

/**
 * Resolves the `openapi` option against the 429 builder: undefined when the document is to be
 * left alone, else what documents one limit, following its `headers` and `errorFormat`
 * (worked out once per distinct pair).
 */
export function resolveOpenApi (
  input: OpenApiInput | undefined,
  customBuilder: boolean
): ((limit: CompiledLimit) => OpenApiDocs) | undefined {
  if (input === false) return undefined
  const given = typeof input === 'object' ? input.errorSchema : undefined
  const seen = new Map<string, OpenApiDocs>()
  return (limit) => {
    const id = JSON.stringify([limit.headers, limit.deniedHeaders, limit.errorFormat])
    let docs = seen.get(id)
    if (docs === undefined) {
      docs = Object.freeze({
        headers: headerDocs(limit.headers, false),
        deniedHeaders: headerDocs(limit.deniedHeaders, true),
        errorSchema: given ?? (customBuilder ? undefined : defaultSchemaOf(limit.errorFormat)),
        errorContentType: limit.errorFormat === 'problem' ? PROBLEM_CONTENT_TYPE : undefined
      })
      seen.set(id, docs)
    }
    return docs
  }
}

function defaultSchemaOf (format: ErrorFormat): Schema {
  return format === 'problem' ? problemErrorSchema : defaultErrorSchema
}

/** An example of the default bodies' sentence for a ban. */
const bannedExample = 'Banned after repeated requests over the rate limit, retry in 15 minutes'

/**
 * The body of a denial answered with `statusCode` (the limit's, or a ban's): the default bodies'
 * schemas say that status (and for a ban, its problem type and sentence); a schema of yours is
 * yours, as it is.
 */
function bodyOf (body: Schema | undefined, statusCode: number, banned: boolean): Schema | undefined {
  if (!banned && statusCode === 429) return body
  if (body === defaultErrorSchema) {
    const properties = body.properties as Record<string, Schema>
    return {
      ...body,
      properties: {
        statusCode: { type: 'integer', enum: [statusCode] },
        error: { type: 'string', enum: [STATUS_CODES[statusCode] ?? 'Error'] },
        message: banned ? { ...properties.message, example: bannedExample } : properties.message
      }
    }
  }
  if (body === problemErrorSchema) {
    const properties = body.properties as Record<string, Schema>
    const types = banned
      ? { type: { type: 'string', enum: [problemTypes.abnormalUsage.type] }, title: { type: 'string', enum: [problemTypes.abnormalUsage.title] } }
      : {}
    return {
      ...body,
      properties: {
        ...properties,
        ...types,
        status: { type: 'integer', enum: [statusCode] },
        ...(banned ? { detail: { ...properties.detail, example: bannedExample } } : {})
      }
    }
  }
  return body
}

const kindWords: Record<BucketKind, string> = { ip: 'per IP', user: 'per user', key: 'per key' }

/** The bucket kinds a limit declares, in reading order. */
function kindsOf (limit: CompiledLimit): CompiledKind[] {
  return [limit.ip, limit.user, limit.key].filter((k): k is CompiledKind => k !== undefined)
}

/** The `x-ratelimit` extension of an operation: the limits, for tools. */
export function limitExtension (limit: CompiledLimit): Schema {
  const kinds = kindsOf(limit)
  const extension: Schema = {
    scope: limit.route,
    algorithm: limit.algorithm.name,
    cost: typeof limit.cost === 'number' ? limit.cost : 'per request',
    dryRun: limit.dryRun,
    onStoreError: limit.onStoreError
  }
  if (limit.delay !== undefined) extension.delay = { maxMs: limit.delay.maxMs, queue: limit.delay.queue }
  if (limit.concurrency !== undefined) extension.concurrency = Object.fromEntries(Object.values(limit.concurrency).map((c) => [c.kind, c.limit]))
  if (limit.ban !== undefined) {
    const { after, forMs, backoffMilli, maxMs, statusCode, extend } = limit.ban
    extension.ban = { after, forMs, backoff: backoffMilli / 1000, maxMs, statusCode, extend }
  }
  for (const kind of kinds) {
    extension[kind.kind] = kind.dynamic !== undefined
      ? 'per request'
      : kind.rates.map((r) => ({
        rate: r.text,
        limit: r.params.limit,
        windowMs: r.params.windowMs,
        ...(r.algorithm.usesBurst ? { burst: r.params.burst } : {})
      }))
  }
  return extension
}

/** The line added to an operation's description: `Rate limit: 5/min per IP, 50/min per user.` */
export function limitLine (limit: CompiledLimit): string {
  const kinds = kindsOf(limit)
  const parts = kinds.map((k) => `${k.dynamic !== undefined ? 'a rate decided per request' : k.rates.map((r) => r.text).join(' and ')} ${kindWords[k.kind]}`)
  let line = `Rate limit: ${parts.join(', ')} (${limit.algorithm.name}`
  if (typeof limit.cost !== 'number') line += ', cost varies per request'
  else if (limit.cost > 1) line += `, each request costs ${limit.cost}`
  if (limit.route === 'global') line += ', the global limit'
  else if (!limit.route.includes(' ')) line += `, shared by group '${limit.route}'`
  if (limit.dryRun) line += ', dry run: counted, never enforced'
  // the response comes later instead of a 429: the 429 stays possible (a longer wait, a full queue)
  if (limit.delay !== undefined) line += `, a request that can pass within ${limit.delay.maxMs} ms waits instead of a 429`
  if (limit.concurrency !== undefined) {
    line += `, at most ${Object.values(limit.concurrency).map((c) => `${c.limit} ${kindWords[c.kind]}`).join(' and ')} in flight`
  }
  if (limit.ban !== undefined) {
    const { after, forMs, backoffMilli, maxMs, statusCode, extend } = limit.ban
    line += `, ${after} denials within a window ban the client for ${forMs} ms`
    if (backoffMilli !== 1000) line += ` (each further ban ${backoffMilli / 1000} times longer, up to ${maxMs} ms)`
    if (extend) line += ', started again by every request during it,'
    line += ` with a ${statusCode}`
  }
  return `${line}).`
}

/**
 * A denial's response (the limit's `statusCode`, or a ban's): its body (bodyOf), under its media
 * type where the document names them, and the denial's headers.
 */
function denialResponse (docs: OpenApiDocs, mediaTypes: boolean, statusCode: number, banned: boolean, description: string): Schema {
  const body = bodyOf(docs.errorSchema, statusCode, banned)
  const headers = Object.keys(docs.deniedHeaders).length === 0 ? {} : { headers: docs.deniedHeaders }
  return docs.errorContentType === undefined || !mediaTypes
    ? { ...body, 'x-response-description': description, ...headers }
    // @fastify/swagger's per-media-type form, so the document names the problem+json type
    : { 'x-response-description': description, content: { [docs.errorContentType]: { schema: body ?? {} } }, ...headers }
}

/** A copy of a route schema that documents `limit`; the route's own schema is not touched. */
export function documentSchema (schema: Schema | undefined, limit: CompiledLimit, docs: OpenApiDocs, mediaTypes = true): Schema {
  const line = limitLine(limit)
  const own = (schema?.response ?? {}) as Record<string, unknown>
  const response: Record<string, unknown> = Object.keys(own).length === 0
    // what @fastify/swagger shows for a route without response schemas, now with headers
    ? { 200: { type: 'null', description: 'Default Response' } }
    : { ...own }
  const denied = String(limit.statusCode)
  for (const [code, entry] of Object.entries(response)) {
    // a response of the route's own at the denial's status carries the denial's headers
    const extra = code === denied ? docs.deniedHeaders : docs.headers
    // with `headers: false` there is nothing to add
    if (Object.keys(extra).length === 0) continue
    response[code] = { ...entry as Schema, headers: { ...extra, ...(entry as Schema).headers as Schema } }
  }
  if (!limit.dryRun && response[denied] === undefined) {
    const reason = limit.statusCode === 429 ? 'Too Many Requests' : `${STATUS_CODES[limit.statusCode] ?? 'Denied'}: too many requests`
    response[denied] = denialResponse(docs, mediaTypes, limit.statusCode, false, `${reason}. ${line}`)
  }
  if (limit.ban !== undefined && !limit.dryRun && response[String(limit.ban.statusCode)] === undefined) {
    response[String(limit.ban.statusCode)] = denialResponse(docs, mediaTypes, limit.ban.statusCode, true, `Banned: too many requests over the limit. ${line}`)
  }
  if (limit.onStoreError === 'deny' && response['503'] === undefined) response['503'] = unavailableResponse(limit, mediaTypes)
  const description = typeof schema?.description === 'string' ? `${schema.description}\n\n${line}` : line
  return { ...schema, description, response, 'x-ratelimit': limitExtension(limit) }
}

/**
 * Whether the instance's @fastify/swagger writes OpenAPI 3, whose responses name their media
 * types (`content`), rather than Swagger 2.0, which has no place for them. @fastify/swagger does
 * not expose its mode and builds the document once, so its generator is recognized by the
 * OpenAPI 3 object it builds; anything unrecognized is treated as Swagger 2.0, where the 429
 * body is described without a media type (valid in both).
 */
function writesOpenApi3 (instance: FastifyInstance): boolean {
  const generate = (instance as FastifyInstance & { swagger?: unknown }).swagger
  return typeof generate === 'function' && Function.prototype.toString.call(generate).includes('openapiObject')
}

/**
 * Collects limited routes and, once the app is ready, gives @fastify/swagger a documented copy of
 * each route's schema. Done at `onReady`, after Fastify has compiled the routes' serializers from
 * their own schemas, so responses are serialized exactly as without this plugin (no response
 * schema is ever added to a route). Routes whose instance has no @fastify/swagger are left alone.
 */
export class OpenApiCollector {
  readonly #docs: (limit: CompiledLimit) => OpenApiDocs
  readonly #routes: Array<{ instance: FastifyInstance, route: RouteOptions, limit: CompiledLimit }> = []

  constructor (docs: (limit: CompiledLimit) => OpenApiDocs) {
    this.#docs = docs
  }

  /** Records a route and its limit (none: the route is not limited). */
  add (instance: FastifyInstance, route: RouteOptions, limit: CompiledLimit | undefined): void {
    if (limit !== undefined) this.#routes.push({ instance, route, limit })
  }

  /** The onReady step: swaps in the documented schemas. */
  apply (): void {
    for (const { instance, route, limit } of this.#routes.splice(0)) {
      if (!instance.hasPlugin('@fastify/swagger')) continue
      route.schema = documentSchema(route.schema as Schema | undefined, limit, this.#docs(limit), writesOpenApi3(instance)) as RouteOptions['schema']
    }
  }
}
