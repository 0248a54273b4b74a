import type { FastifyRequest } from 'fastify'
import type { CompiledLimit } from './compile.js'
import type { LimitContext, RateLimitDecision } from './context.js'

/** The plugin's counters, reported by `fastify.rateLimit.stats()`. */
export interface Counters {
  allowed: number
  denied: number
  dryRunDenied: number
  storeErrors: number
}

/**
 * Where the limiter reports what it decided. Every outcome of a request goes through here (and
 * nowhere else), so counters, metrics and logs are kept in one place.
 */
export class Reporter {
  readonly counters: Counters = { allowed: 0, denied: 0, dryRunDenied: 0, storeErrors: 0 }

  allowed (_request: FastifyRequest, _limit: CompiledLimit, _decision: RateLimitDecision): void {
    this.counters.allowed++
  }

  /** A denial answered with a 429. */
  denied (_request: FastifyRequest, _context: LimitContext): void {
    this.counters.denied++
  }

  /** A denial let through because the limit is in dry-run mode. */
  dryRunDenied (request: FastifyRequest, context: LimitContext): void {
    this.counters.dryRunDenied++
    request.log.warn({ rateLimit: context }, 'rate limit exceeded (dry run: request allowed)')
  }

  storeError (_request: FastifyRequest, _limit: CompiledLimit, _err: unknown): void {
    this.counters.storeErrors++
  }
}
