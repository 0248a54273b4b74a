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
 * The fixed head of every key of one bucket kind of one limit:
 * `<prefix>:{<namespace><route>:<kind>:` — the identity and `}` follow, then the rate tail. The
 * braces make every key of one request share a Redis Cluster hash slot.
 *
 * `namespace` keeps limits of different origins apart: `''` for a route's own limit (whose id
 * always holds an escaped space, `%20`) and for `global` (`*`), `group=` for groups, `hook<n>=`
 * for the n-th `hook()` limit. `=` never appears in an encoded part, so no route, group or
 * identity can reach another namespace's keys.
 *
 * With `routeTag` (a limit with `apply: 'all'`, whose request charges buckets of several kinds
 * in one store call) the hash tag closes after the route, `<prefix>:{<namespace><route>}:<kind>:`,
 * so every bucket of the limit lives in one Cluster slot. The `}` that ends an identity then
 * closes nothing, and the head differs from the other form right after the route, so the two
 * forms never share a key.
 */
export function keyHead (head: KeyHead): string {
  const { prefix, route, kind, namespace = '', routeTag = false } = head
  return `${prefix === '' ? '' : prefix + ':'}{${namespace}${encodePart(route)}${routeTag ? '}' : ''}:${kind}:`
}

/** The parts of a key head. */
export interface KeyHead {
  /** The plugin's `keyPrefix`. */
  readonly prefix: string
  /** The route, group or other name of the limit's buckets (encoded here). */
  readonly route: string
  /** The bucket kind: `ip`, `user`, `key`. */
  readonly kind: string
  /** The namespace marker of groups, the global limit and `hook()` limits; `''` for routes. */
  readonly namespace?: string
  /** Close the hash tag after the route (limits with `apply: 'all'`). */
  readonly routeTag?: boolean
}

/** The tail of a key: `}:<algorithm code>:<limit>:<windowMs>[:<burst>]`. */
export function keyTail (code: string, limit: number, windowMs: number, burst: number | undefined): string {
  return `}:${code}:${limit}:${windowMs}${burst === undefined ? '' : ':' + burst}`
}
