import { errors } from '../lib/core/errors.js'
import { formatValue } from '../lib/core/format.js'

/** What a connection error's code means, in the words an operator reads in a log line. */
const meanings: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed'
}

/** What the store knows of a client that is not connected. */
export interface Disconnected {
  /** `host:port` from the client's options, or `'its server'` when it has none (a Cluster). */
  readonly server: string
  /** The last connection error the client reported, if any since it was last ready. */
  readonly error: unknown
  /** The client's status (`'connecting'`, `'reconnecting'`, `'end'`, ...). */
  readonly status: string
}

/** `host:port` of an ioredis client made for one server; a Cluster or a non-ioredis client has none. */
export function serverOf (options: { readonly host?: unknown, readonly port?: unknown } | undefined): string {
  const { host, port } = options ?? {}
  return typeof host === 'string' && typeof port === 'number' ? `${host}:${port}` : 'its server'
}

/**
 * FST_LIMITER_REDIS_UNREACHABLE for a client that could not connect, or a command it refused while
 * not connected (a client without an offline queue fails at once): it names the server and says
 * why in words, `connection refused (connect ECONNREFUSED 127.0.0.1:6379)`, rather than ioredis'
 * "Stream isn't writeable", and keeps the client's own error as `cause`.
 */
export function unreachable ({ server, error, status }: Disconnected, cause: unknown): Error {
  return new errors.REDIS_UNREACHABLE(server, reasonOf(error, status), { cause })
}

function reasonOf (error: unknown, status: string): string {
  if (error === null || typeof error !== 'object') return `not connected (ioredis status '${status}')`
  const { code, message } = error as { code?: unknown, message?: unknown }
  const text = typeof message === 'string' ? message : formatValue(error)
  const meaning = typeof code === 'string' ? meanings[code] : undefined
  return meaning === undefined ? text : `${meaning} (${text})`
}
