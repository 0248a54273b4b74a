import { STATUS_CODES } from 'node:http'
import type { FastifyRequest } from 'fastify'
import type { ErrorFormat, LimitContext } from '../core/types.js'
import { BREAKER_MS } from './breaker.js'

/** The default 429 body: `{ statusCode, error, message }`, like Fastify's own errors. */
export function defaultErrorResponse (_request: FastifyRequest, context: LimitContext) {
  if (context.banned === true) return bannedResponse(context)
  return {
    statusCode: context.statusCode,
    error: 'Too Many Requests',
    message: `Rate limit exceeded, retry in ${context.after}`
  }
}

/** What the default bodies say of a ban. */
export const BANNED_MESSAGE = 'Banned after repeated requests over the rate limit'

/** The default body of a banned request (the `ban` option): its status (403 unless set) and reason. */
function bannedResponse (context: LimitContext) {
  return {
    statusCode: context.statusCode,
    error: STATUS_CODES[context.statusCode] ?? 'Error',
    message: `${BANNED_MESSAGE}, retry in ${context.after}`
  }
}

/** The problem type of draft-ietf-httpapi-ratelimit-headers for a request over its quota. */
export const QUOTA_EXCEEDED_TYPE = 'https://iana.org/assignments/http-problem-types#quota-exceeded'

/** The media type of an RFC 9457 problem details body. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/**
 * The 429 of `errorFormat: 'problem'`: RFC 9457 problem details with the draft's quota-exceeded
 * type and its `violated-policies` extension, naming the policy as the `RateLimit-Policy` header
 * does (`ip-10/min`).
 */
export function problemResponse (_request: FastifyRequest, context: LimitContext) {
  return {
    type: QUOTA_EXCEEDED_TYPE,
    title: 'Request cannot be satisfied as assigned quota has been exceeded',
    status: context.statusCode,
    detail: `${context.banned === true ? BANNED_MESSAGE : 'Rate limit exceeded'}, retry in ${context.after}`,
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

/** The 503 body of `onStoreError: 'deny'`. */
export function unavailableResponse () {
  return {
    statusCode: 503,
    error: 'Service Unavailable',
    message: `The rate-limit store is unavailable, retry in ${humanAfter(UNAVAILABLE_RETRY_S)}`
  }
}
