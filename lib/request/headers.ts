import type { FastifyReply } from 'fastify'
import { serializeItem } from 'structured-headers'
import type { HeaderFormat, HeaderInput, HeaderNames, HeaderWriter, RateLimitDecision } from '../core/types.js'

/** Header names of the `legacy` format (and the defaults of a custom-names object). */
export const legacyNames: Readonly<HeaderNames> = {
  limit: 'x-ratelimit-limit',
  remaining: 'x-ratelimit-remaining',
  reset: 'x-ratelimit-reset',
  retryAfter: 'retry-after'
}

/**
 * Compiles the `headers` option into one writer, called from `onSend`.
 * `legacy`: X-RateLimit-Limit / -Remaining / -Reset (Unix epoch seconds);
 * `ietf`: the RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers-10;
 * both add Retry-After (whole seconds, rounded up) on a 429.
 */
export function compileHeaders (format: HeaderFormat): HeaderWriter | undefined {
  if (format === false) return undefined
  if (format === 'ietf') return writeIetf
  const names: HeaderNames = format === 'legacy' ? legacyNames : { ...legacyNames, ...format }
  return (reply, decision, input) => {
    reply.header(names.limit, decision.limit)
    reply.header(names.remaining, decision.remaining)
    reply.header(names.reset, Math.ceil(decision.resetMs / 1000))
    if (input.blocked) reply.header(names.retryAfter, Math.ceil(decision.retryAfterMs / 1000))
  }
}

function writeIetf (reply: FastifyReply, decision: RateLimitDecision, input: HeaderInput): void {
  reply.header('ratelimit-policy', input.policy)
  // The policy name is serialized by structured-headers at registration; r and t are
  // sf-integers, whose serialization is their decimal digits.
  reply.header('ratelimit', `${input.policyName};r=${decision.remaining};t=${Math.max(0, Math.ceil((decision.resetMs - input.now) / 1000))}`)
  if (input.blocked) reply.header('retry-after', Math.ceil(decision.retryAfterMs / 1000))
}

/** The serialized policy name of one rate: `"ip-10/min"`. */
export function policyName (kind: string, text: string): string {
  return serializeItem(`${kind}-${text}`)
}

/** One RateLimit-Policy list member: `"ip-10/min";q=10;w=60`. */
export function policyItem (kind: string, text: string, limit: number, windowMs: number): string {
  return serializeItem([`${kind}-${text}`, new Map([['q', limit], ['w', Math.ceil(windowMs / 1000)]])])
}
