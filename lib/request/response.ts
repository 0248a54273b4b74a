import type { FastifyRequest } from 'fastify'
import type { LimitContext } from '../core/types.js'
import { BREAKER_MS } from './guard.js'

/** The default 429 body: `{ statusCode, error, message }`, like Fastify's own errors. */
export function defaultErrorResponse (_request: FastifyRequest, context: LimitContext) {
  return {
    statusCode: context.statusCode,
    error: 'Too Many Requests',
    message: `Rate limit exceeded, retry in ${context.after}`
  }
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
