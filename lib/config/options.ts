import type { FastifyRequest } from 'fastify'
import { algorithms } from '../../algorithms/index.js'
import { MemoryStore } from '../../stores/memory.js'
import { SqliteStore } from '../../stores/sqlite.js'
import { redisShorthand } from '../../stores/redis.js'
import { missingStoreMethods } from '../../stores/store.js'
import type { Store } from '../core/store.js'
import { errors } from '../core/errors.js'
import { formatValue } from '../core/format.js'
import type { CompiledLimit, Identity, ResolvedOptions } from '../core/types.js'
import { compileExempt } from '../request/exempt.js'
import { compileHeaders } from '../request/headers.js'
import { errorResponseFor } from '../request/response.js'
import { resolveLog } from '../observe/logging.js'
import { resolveOpenApi } from '../observe/openapi.js'
import { PLUGIN_OPTION, checkPluginOptions, failFor } from './check.js'
import { checkCount, checkSettle, resolveBan, resolveDelay } from './limit-options.js'
import { parseRates } from './rate.js'
import type { RateInput } from './rate.js'
import type { FastifyLimiterOptions, RateLimit, RateLimitObject } from './schema.js'

/** The plugin options, checked and fully defaulted once, with the `global` limit as declared. */
export interface PluginSettings extends ResolvedOptions {
  readonly global: RateLimit | undefined
  /** The app-wide key function and its rates (given together): what limits without a `key` of their own inherit (compile.ts). */
  readonly key: CompiledLimit['keyFn']
  readonly rate: RateLimitObject['rate']
}

/** Options Fastify's `register` itself understands; they reach the plugin and are ignored here. */
const registerOptions = new Set(['prefix', 'logLevel', 'logSerializers'])

function defaultUser (request: FastifyRequest): Identity {
  return (request as FastifyRequest & { user?: { id?: Identity } }).user?.id
}

/** Turns the plugin options into one frozen, fully defaulted object; throws on anything bad. */
export function resolveOptions (input: FastifyLimiterOptions | undefined, fastify?: object): PluginSettings {
  if (input !== undefined && (input === null || typeof input !== 'object' || Array.isArray(input))) {
    throw new errors.INVALID_OPTION('fastify-limiter options', 'an object', formatValue(input))
  }
  const options: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input ?? {})) {
    if (!registerOptions.has(key)) options[key] = value
  }
  checkPluginOptions(options)
  const o = options as FastifyLimiterOptions
  const storeTimeoutMs = o.storeTimeoutMs ?? 100
  if ((o.key === undefined) !== (o.rate === undefined)) {
    const [present, missing] = o.key === undefined ? ['rate', 'key'] : ['key', 'rate']
    throw new errors.INVALID_OPTION(`${PLUGIN_OPTION} ${present}`, `${missing} beside ${present} (key and rate go together)`, `${present} without ${missing}`)
  }
  // a rate function is checked per value it returns, as a limit's is
  if (o.rate !== undefined && typeof o.rate !== 'function') parseRates(o.rate as RateInput | RateInput[], PLUGIN_OPTION, 'rate')
  let store: Store
  if (o.sqlite !== undefined && o.store !== undefined) {
    throw new errors.INVALID_OPTION('fastify-limiter option sqlite', 'no store option beside it (sqlite is shorthand for a SqliteStore)', 'both store and sqlite')
  }
  if (o.redis !== undefined && (o.store !== undefined || o.sqlite !== undefined)) {
    throw new errors.INVALID_OPTION('fastify-limiter option redis', 'no store or sqlite option beside it (redis is shorthand for a RedisStore)', 'another store option too')
  }
  if (o.redis !== undefined) {
    store = redisShorthand(o.redis, fastify, o.clock)
  } else if (o.sqlite !== undefined) {
    // a lock wait is the one store wait storeTimeoutMs cannot cut short (better-sqlite3 is
    // synchronous), so by default the busy timeout is the store timeout
    store = new SqliteStore({ busyTimeoutMs: storeTimeoutMs, ...(typeof o.sqlite === 'string' ? { path: o.sqlite } : o.sqlite), clock: o.clock })
  } else if (o.store === undefined) {
    store = new MemoryStore({ clock: o.clock })
  } else {
    const missing = missingStoreMethods(o.store)
    if (missing.length > 0) throw new errors.INVALID_STORE(missing.join('(), '))
    store = o.store
  }
  return Object.freeze({
    store,
    ownsStore: o.store === undefined,
    algorithm: algorithms[o.algorithm ?? 'sliding-window'],
    global: o.global,
    user: o.user ?? defaultUser,
    key: o.key,
    rate: o.rate,
    hook: o.hook ?? 'onRequest',
    keyPrefix: o.keyPrefix ?? 'fl',
    headers: o.headers ?? 'legacy',
    writeHeaders: compileHeaders(o.headers ?? 'legacy'),
    deniedHeaders: o.deniedHeaders,
    errorFormat: o.errorFormat ?? 'plain',
    statusCode: o.statusCode ?? 429,
    customErrorResponse: o.errorResponseBuilder,
    errorResponseBuilder: o.errorResponseBuilder ?? errorResponseFor(o.errorFormat ?? 'plain'),
    exempt: compileExempt(o.exempt, failFor(PLUGIN_OPTION), 'exempt'),
    dryRun: o.dryRun ?? false,
    ipv6Subnet: o.ipv6Subnet ?? 64,
    onExceeding: o.onExceeding,
    onExceeded: o.onExceeded,
    clock: o.clock,
    openapi: resolveOpenApi(o.openapi, o.errorResponseBuilder !== undefined),
    metrics: o.metrics ?? false,
    log: resolveLog(o.log),
    onStoreError: o.onStoreError ?? 'fallback',
    storeTimeoutMs,
    count: checkCount(store, o.count ?? 'all', 'fastify-limiter option', 'count'),
    settle: checkSettle(store, o.settle, 'fastify-limiter option', 'settle'),
    delay: resolveDelay(o.delay),
    leaseMs: o.leaseMs ?? 60_000,
    ban: o.ban === undefined
      ? undefined
      : resolveBan({ ban: o.ban, onBan: o.onBan, store }, { where: PLUGIN_OPTION, path: 'ban', fail: failFor(PLUGIN_OPTION) }),
    onBan: o.onBan
  })
}
