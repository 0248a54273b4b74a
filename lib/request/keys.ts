import { createHash } from 'node:crypto'

/** Identities longer than this (after escaping) are stored as a hash. */
const MAX_PART = 200

/**
 * Encodes one variable part of a store key (a route, an identity) so that no input can
 * collide with another bucket or break the key's structure.
 *
 * `escape()` is used on purpose: it is reversible (so two different inputs never share an
 * output), never fails on invalid UTF-16 (lone surrogates), and its output is ASCII without
 * `:`, `{`, `}` or `#`, the key's separators and Redis hash-tag braces. A long part is
 * replaced by `#` + SHA-256 of its escaped form (hashing the escaped ASCII, not the raw
 * string, so lone surrogates cannot merge through UTF-8 replacement); no escaped part starts
 * with `#`, so hashed and plain parts never meet.
 */
export function encodePart (value: string): string {
  const escaped = escape(value)
  if (escaped.length <= MAX_PART) return escaped
  return '#' + createHash('sha256').update(escaped).digest('base64url')
}

/**
 * The fixed head of every key of one bucket kind of one route:
 * `<prefix>:{<route>:<kind>:` — the identity and `}` follow, then the rate tail. The braces
 * make every key of one request share a Redis Cluster hash slot.
 */
export function keyHead (prefix: string, route: string, kind: string): string {
  return `${prefix === '' ? '' : prefix + ':'}{${encodePart(route)}:${kind}:`
}

/** The tail of a key: `}:<algorithm code>:<limit>:<windowMs>[:<burst>]`. */
export function keyTail (code: string, limit: number, windowMs: number, burst: number | undefined): string {
  return `}:${code}:${limit}:${windowMs}${burst === undefined ? '' : ':' + burst}`
}
