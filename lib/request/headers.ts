import { createHash } from 'node:crypto'
import type { FastifyReply } from 'fastify'
import { serializeItem } from 'structured-headers'
import type { Applied, HeaderFields, HeaderFormat, HeaderNames, HeaderWriter, RateLimitDecision } from '../core/types.js'

/** Header names of the `legacy` format (and the defaults of a custom-names object). */
export const legacyNames: Readonly<HeaderNames> = {
  limit: 'x-ratelimit-limit',
  remaining: 'x-ratelimit-remaining',
  reset: 'x-ratelimit-reset',
  retryAfter: 'retry-after'
}

/** An HTTP field name: an RFC 9110 token (section 5.1, 5.6.2). */
export const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * Compiles the `headers` option (or `deniedHeaders`) into one writer, called when a limit
 * decides (respond.ts). Every format adds Retry-After (whole seconds, rounded up) on a denial.
 * - `legacy`: X-RateLimit-Limit / -Remaining / -Reset (Unix epoch seconds);
 * - `draft-10` (and `ietf`, the newest revision whose text this project checked): `RateLimit-Policy`
 *   and `RateLimit` of draft-ietf-httpapi-ratelimit-headers-10, lists of items named by policy;
 * - `draft-6`: RateLimit-Limit / -Remaining / -Reset (seconds from now), as @fastify/rate-limit's
 *   `enableDraftSpec` sends them;
 * - `draft-7`: `RateLimit-Policy: 10;w=60` and `RateLimit: limit=10, remaining=9, reset=60`;
 * - `draft-8`: one `"name"; q=..; w=..; pk=:..:` policy per rate and `RateLimit: "name"; r=..; t=..`,
 *   laid out as express-rate-limit sends them;
 * - custom names: the legacy values under the names given (checked as field names by the option
 *   schema), a field given as `false` left out.
 */
export function compileHeaders (format: HeaderFormat): HeaderWriter | undefined {
  switch (format) {
    case false: return undefined
    case 'legacy': return writeLegacy
    case 'ietf':
    case 'draft-10': return writeDraft10
    case 'draft-6': return writeDraft6
    case 'draft-7': return writeDraft7
    case 'draft-8': return writeDraft8
  }
  const { limit, remaining, reset, retryAfter } = headerNames(format)
  if (limit === false && remaining === false && reset === false && retryAfter === false) return undefined
  // the fields left out are known now: the writer tests a constant per field, never a name
  return (reply, decision, applied) => {
    if (limit !== false) reply.header(limit, decision.limit)
    if (remaining !== false) reply.header(remaining, decision.remaining)
    if (reset !== false) reply.header(reset, Math.ceil(decision.resetMs / 1000))
    if (retryAfter !== false && applied.blocked) reply.header(retryAfter, Math.ceil(decision.retryAfterMs / 1000))
  }
}

/** A custom-names object with every field: the legacy name where it names none. */
export function headerNames (format: Partial<HeaderFields>): HeaderFields {
  return { ...legacyNames, ...format }
}

/** The name a format sends Retry-After under on a denial; undefined when it sends none. */
export function retryAfterHeader (format: HeaderFormat): string | undefined {
  if (format === false) return undefined
  if (typeof format === 'string') return legacyNames.retryAfter
  const { retryAfter } = headerNames(format)
  return retryAfter === false ? undefined : retryAfter
}

function writeLegacy (reply: FastifyReply, decision: RateLimitDecision, applied: Applied): void {
  reply.header(legacyNames.limit, decision.limit)
  reply.header(legacyNames.remaining, decision.remaining)
  reply.header(legacyNames.reset, Math.ceil(decision.resetMs / 1000))
  if (applied.blocked) reply.header(legacyNames.retryAfter, Math.ceil(decision.retryAfterMs / 1000))
}

/** Whole seconds from the decision to the reset, never negative. */
function resetSeconds (decision: RateLimitDecision, applied: Applied): number {
  return Math.max(0, Math.ceil((decision.resetMs - applied.now) / 1000))
}

function retryAfter (reply: FastifyReply, decision: RateLimitDecision, applied: Applied): void {
  if (applied.blocked) reply.header('retry-after', Math.ceil(decision.retryAfterMs / 1000))
}

/**
 * Draft-10's `t` is the time "until additional quota ... is made available", and Retry-After
 * "SHOULD NOT reference a point in time earlier than" it (sections 4.1.2 and 6). On a 429 that
 * moment is Retry-After itself: the request passes then. Otherwise it is the reset, the one
 * moment the decision knows more quota is there (a window algorithm gives quota back bit by bit
 * before it, so `t` is never early).
 */
function writeDraft10 (reply: FastifyReply, decision: RateLimitDecision, applied: Applied): void {
  reply.header('ratelimit-policy', applied.kind.policy)
  const t = applied.blocked ? Math.ceil(decision.retryAfterMs / 1000) : resetSeconds(decision, applied)
  // The policy name is serialized by structured-headers at registration; r and t are
  // sf-integers, whose serialization is their decimal digits.
  reply.header('ratelimit', `${applied.rate.policyName};r=${decision.remaining};t=${t}`)
  retryAfter(reply, decision, applied)
}

function writeDraft6 (reply: FastifyReply, decision: RateLimitDecision, applied: Applied): void {
  reply.header('ratelimit-limit', decision.limit)
  reply.header('ratelimit-remaining', decision.remaining)
  reply.header('ratelimit-reset', resetSeconds(decision, applied))
  retryAfter(reply, decision, applied)
}

function writeDraft7 (reply: FastifyReply, decision: RateLimitDecision, applied: Applied): void {
  reply.header('ratelimit-policy', `${decision.limit};w=${Math.ceil(applied.rate.params.windowMs / 1000)}`)
  reply.header('ratelimit', `limit=${decision.limit}, remaining=${decision.remaining}, reset=${resetSeconds(decision, applied)}`)
  retryAfter(reply, decision, applied)
}

function writeDraft8 (reply: FastifyReply, decision: RateLimitDecision, applied: Applied): void {
  const pk = partitionKey(applied.identity)
  reply.header('ratelimit-policy', applied.kind.rates.map((r) =>
    `${r.policyName}; q=${r.params.limit}; w=${Math.ceil(r.params.windowMs / 1000)}; pk=:${pk}:`).join(', '))
  reply.header('ratelimit', `${applied.rate.policyName}; r=${decision.remaining}; t=${resetSeconds(decision, applied)}`)
  retryAfter(reply, decision, applied)
}

/**
 * Draft-8's partition key, computed as express-rate-limit does: the first 12 hex digits of the
 * SHA-256 of the identity, as base64 (a 16-character sf-binary). The client learns nothing it
 * did not send: the identity is its own IP, user or key.
 */
export function partitionKey (identity: string): string {
  return Buffer.from(createHash('sha256').update(identity).digest('hex').slice(0, 12)).toString('base64')
}

/** The serialized policy name of one rate: `"ip-10/min"`. */
export function policyName (kind: string, text: string): string {
  return serializeItem(`${kind}-${text}`)
}

/** One RateLimit-Policy list member: `"ip-10/min";q=10;w=60`. */
export function policyItem (kind: string, text: string, limit: number, windowMs: number): string {
  return serializeItem([`${kind}-${text}`, new Map([['q', limit], ['w', Math.ceil(windowMs / 1000)]])])
}
