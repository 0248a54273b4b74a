import { createHmac, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { LimitContext, LogLevel, LogOptions } from '../core/types.js'

export interface LogInput {
  denied?: LogLevel
  dryRun?: LogLevel
  identity?: 'hash' | 'raw' | false
}

/** Resolves the `log` option: denials at `debug`, dry-run denials at `warn`, hashed identities. */
export function resolveLog (input: LogInput = {}): LogOptions {
  return Object.freeze({
    denied: input.denied ?? 'debug',
    dryRun: input.dryRun ?? 'warn',
    identity: input.identity ?? 'hash',
    hashKey: randomBytes(32)
  })
}

/** The identity as logs show it: 16 hex digits of HMAC-SHA256 under the instance's key. */
export function hashIdentity (identity: string, key: Buffer): string {
  return createHmac('sha256', key).update(identity).digest('hex').slice(0, 16)
}

/**
 * Logs a denial through the request's logger (so the line carries the request id), at the level the
 * options give denials (`denied`) or dry-run denials (`dryRun`). Nothing is computed when the level
 * is off or below the logger's level.
 * @param identity the encoded identity of the bucket, as it stands in the store key
 */
export function logDenial (logger: FastifyBaseLogger, denial: LimitContext, options: LogOptions, identity: string): void {
  const level: LogLevel = denial.dryRun ? options.dryRun : options.denied
  if (level === false) return
  // pino has isLevelEnabled; Fastify's no-op logger (logger: false) has not, and ignores every call
  const log = logger as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }
  if (log.isLevelEnabled?.(level) === false) return
  // Fastify's disabled logger (abstract-logging) has no isLevelEnabled either, and every method
  // is one shared no-op: then skip building the line and hashing the identity (~10 µs a denial,
  // measured by bench/ "every response 429"). A real logger's methods are distinct functions.
  if (log.isLevelEnabled === undefined && log[level] === log.fatal && log.fatal === log.trace) return
  const rateLimit: Record<string, unknown> = {
    route: denial.route,
    bucket: denial.bucket,
    rate: denial.rate,
    limit: denial.limit,
    remaining: denial.remaining,
    retryAfterMs: denial.retryAfterMs,
    dryRun: denial.dryRun
  }
  if (options.identity === 'hash') rateLimit.identity = hashIdentity(identity, options.hashKey)
  else if (options.identity === 'raw') rateLimit.identity = identity
  log[level]({ rateLimit }, denial.dryRun ? 'rate limit exceeded (dry run: request allowed)' : 'rate limit exceeded')
}
