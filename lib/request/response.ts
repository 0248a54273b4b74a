import { STATUS_CODES } from 'node:http'
import type { FastifyRequest } from 'fastify'
import type { ErrorFormat, LimitContext } from '../core/types.js'
import { PROBLEM_CONTENT_TYPE, problemTypes } from '../core/problem-types.js'
import { BREAKER_MS } from './breaker.js'

/**
 * The default denial body: `{ statusCode, error, message }`, like Fastify's own errors, with the
 * status's reason phrase (`'Too Many Requests'` for a 429, the limit's `statusCode` otherwise).
 */
export function defaultErrorResponse (_request: FastifyRequest, context: LimitContext) {
  return {
    statusCode: context.statusCode,
    error: STATUS_CODES[context.statusCode] ?? 'Error',
    message: denialMessage(context)
  }
}

/** What the default bodies say of a ban. */
export const BANNED_MESSAGE = 'Banned after repeated requests over the rate limit'

/** The sentence of both default bodies: why, and when to retry. */
function denialMessage (context: LimitContext): string {
  return `${context.banned === true ? BANNED_MESSAGE : 'Rate limit exceeded'}, retry in ${context.after}`
}

/**
 * The 429 of `errorFormat: 'problem'`: RFC 9457 problem details with the draft's quota-exceeded
 * type, or its abnormal-usage-detected type for a ban, and the `violated-policies` extension both
 * define, naming the policy as the `RateLimit-Policy` header does (`ip-10/min`).
 */
export function problemResponse (_request: FastifyRequest, context: LimitContext) {
  const banned = context.banned === true
  const { type, title } = banned ? problemTypes.abnormalUsage : problemTypes.quotaExceeded
  return {
    type,
    title,
    status: context.statusCode,
    detail: denialMessage(context),
    'violated-policies': [`${context.bucket}-${context.rate}`]
  }
}

/** The default 429 body of an `errorFormat`. */
export function errorResponseFor (format: ErrorFormat): (request: FastifyRequest, context: LimitContext) => unknown {
  return format === 'problem' ? problemResponse : defaultErrorResponse
}

const spans: Array<[number, string]> = [[86_400, 'day'], [3_600, 'hour'], [60, 'minute']]

/**
 * `retryAfter` seconds as words: seconds below 2 minutes, then minutes below 2 hours, and so
 * on, rounded up (`70` -> `'70 seconds'`, `150` -> `'3 minutes'`).
 */
export function humanAfter (seconds: number): string {
  for (const [size, unit] of spans) {
    if (seconds >= 2 * size) return plural(Math.ceil(seconds / size), unit)
  }
  return plural(seconds, 'second')
}

function plural (n: number, unit: string): string {
  return n === 1 ? `1 ${unit}` : `${n} ${unit}s`
}

/** Retry-After of a 503 while the store is failing: when the store is asked again. */
export const UNAVAILABLE_RETRY_S = Math.ceil(BREAKER_MS / 1000)

/** What the store's absence keeps from being said, in both 503 bodies. */
const UNAVAILABLE_MESSAGE = `The rate-limit store is unavailable, retry in ${humanAfter(UNAVAILABLE_RETRY_S)}`

/** The plain 503 body of `onStoreError: 'deny'`. */
export function unavailableResponse () {
  return {
    statusCode: 503,
    error: 'Service Unavailable',
    message: UNAVAILABLE_MESSAGE
  }
}

/** A 503 to send: its body, and its content type (undefined: Fastify's JSON). */
export interface UnavailableResponse {
  readonly body: object
  readonly contentType: string | undefined
}

const unavailable: Readonly<Record<ErrorFormat, UnavailableResponse>> = {
  plain: Object.freeze({ body: Object.freeze(unavailableResponse()), contentType: undefined }),
  // no `violated-policies`: no quota was exceeded, the store could not be asked
  problem: Object.freeze({
    body: Object.freeze({ ...problemTypes.reducedCapacity, status: 503, detail: UNAVAILABLE_MESSAGE }),
    contentType: PROBLEM_CONTENT_TYPE
  })
}

/**
 * The 503 of `onStoreError: 'deny'` in a limit's `errorFormat`: the plain body, or problem
 * details of the draft's temporary-reduced-capacity type as `application/problem+json`.
 */
export function unavailableResponseFor (format: ErrorFormat): UnavailableResponse {
  return unavailable[format]
}
