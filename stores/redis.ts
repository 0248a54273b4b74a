import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import type { BanStrike, DecisionSink, SlotGrant, Store, StoreBucket, StoreDecision, StoreEvents, StoreStats } from '../lib/core/store.js'
import { consumeTo } from '../lib/core/store.js'
import { acquireScript, mixedScript, scripts, strikeArgs, strikeScript, sweepScript } from './redis-scripts.js'
import { chargeScripts, mixedChargeScript, mixedPeekScript, mixedRefundScript, peekScripts, refundScripts } from './redis-scripts.js'
import type { RedisScript } from './redis-scripts.js'
import { clusterSlot } from './cluster-slot.js'
import { serverOf, unreachable } from './redis-connection.js'
import { answer } from './store.js'
import type { BanRule } from '../lib/core/algorithm.js'
import { errors } from '../lib/core/errors.js'
import { formatValue } from '../lib/core/format.js'

/**
 * What the store needs of a Redis client. An ioredis `Redis` (standalone, or connected through
 * Sentinel) and an ioredis `Cluster` both fit, and so do iovalkey's (Valkey's fork of ioredis);
 * the store only sends commands through `call`.
 */
export interface RedisClient {
  call (...args: [command: string, ...args: Array<string | number>]): Promise<unknown>
  quit (): Promise<unknown>
  readonly isCluster: boolean
  readonly options: { readonly keyPrefix?: string }
  /** A Cluster's nodes; the store asks for the masters to SCAN and to read INFO from. */
  nodes?: (role: 'master') => RedisClient[]
}

/** Options of `new RedisStore(options)`: exactly one of `client` and `url`. */
export interface RedisStoreOptions {
  /**
   * An ioredis `Redis` or `Cluster` client (for example the one `@fastify/redis` decorates
   * `fastify.redis` with), or iovalkey's. The store never closes a client it was given. No
   * default: give `client` or `url`.
   * @example new RedisStore({ client: new Redis(process.env.REDIS_URL) })
   */
  client?: RedisClient
  /**
   * A `redis://` or `rediss://` URL: the store creates its own ioredis client (ioredis is an
   * optional peer dependency, loaded only then) and closes it on `close()`. The client has no
   * offline queue: until it is connected (`await store.ready()`, which the plugin does in
   * `onReady`) and while Redis is unreachable, calls fail at once with
   * FST_LIMITER_REDIS_UNREACHABLE, saying why. No default: give `client` or `url`.
   * @example new RedisStore({ url: 'redis://localhost:6379/0' })
   */
  url?: string
  /**
   * Prepended to every key the store writes (after the client's own `keyPrefix`, if it has
   * one); `clear()` and `stats()` only see keys under it. No `{` or `}`: the bucket keys carry
   * the hash tag that keeps a request's keys in one Cluster slot.
   * @default 'limiter:'
   * @example new RedisStore({ url: 'redis://localhost:6379', keyPrefix: 'api-limits:' })
   */
  keyPrefix?: string
  /**
   * Clock for `consume` calls that pass no `now`. By default the Redis server's clock (`TIME`)
   * decides, so that every app server agrees; inject one only in tests.
   * @default the Redis server's clock (`TIME`)
   * @example new RedisStore({ client, clock: () => fakeNow })
   */
  clock?: () => number
  /**
   * Micro-batching: the `consume` calls of one turn of the event loop go to Redis as one
   * EVALSHA per connection (per hash slot on a Cluster), which decides them one after another
   * exactly as separate calls would. A call alone in its turn is sent at the end of that turn,
   * not later. `false` sends one EVALSHA per call.
   * @default true
   * @example new RedisStore({ client, batch: false })
   */
  batch?: boolean
}

export interface RedisStoreStats extends StoreStats {
  /** Bytes the Redis server(s) use in all (INFO memory `used_memory`, summed over masters). */
  memory: number
  /** Masters asked: 1, or the masters of a Cluster. */
  nodes: number
  /** Damaged states (values this store did not write) read as empty buckets and deleted, since the store was made. */
  damaged: number
}

/** What the store also uses of an ioredis client: its connection state and events. */
interface OwnedClient extends RedisClient {
  readonly status: string
  readonly options: RedisClient['options'] & { readonly host?: string, readonly port?: number }
  on (event: 'error' | 'ready', listener: (err?: Error) => void): unknown
  once (event: string, listener: (value?: unknown) => void): unknown
  off (event: string, listener: (value?: unknown) => void): unknown
  disconnect (): void
}

const requireModule = createRequire(import.meta.url)

/**
 * Loads ioredis' `Redis` class on demand, so that only users who give a URL need ioredis.
 * @internal exported for tests
 */
export function loadIoredis (id = 'ioredis'): new (url: string, options: { enableAutoPipelining: boolean, enableOfflineQueue: boolean }) => OwnedClient {
  try {
    return requireModule(id).Redis
  } catch (err) {
    throw new errors.REDIS_MISSING(id, id, { cause: err })
  }
}

/**
 * The reply of the scripts in redis-scripts.ts. The consume driver's: the server's time, then
 * per request `index * 2 + allowed, remaining, resetMs, retryAfterMs`, then the 1-based KEYS
 * indices of damaged states. The peek driver's: `allowed, limit, remaining, resetMs,
 * retryAfterMs, index, now`.
 */
type ScriptReply = number[]

/** Integers per request in the consume driver's reply, after the server's time. */
const REPLY = 4

/** At most this many requests go in one EVALSHA; a fuller turn sends several. */
const BATCH_MAX = 200

/** What a batch whose requests use different algorithms runs. */
const MIXED = ''

/**
 * The requests of one turn bound for one EVALSHA: their keys and ARGV in the consume script's
 * layout (per request `cost, now | '', number of keys`, then per key its rate's number; the
 * rates themselves, four parts each, are appended when the batch is sent), and what each
 * request's decision goes to.
 */
class Batch {
  readonly keys: string[] = []
  readonly args: Array<string | number> = []
  /** The rates the batch's keys name, by number (from 1): each rate's `argsOf`. */
  readonly rates: Array<readonly string[]> = []
  readonly sinks: DecisionSink[] = []
  /** Each request's buckets (the reply names the deciding one by index) and injected time. */
  readonly requests: Array<readonly StoreBucket[]> = []
  readonly nows: Array<number | undefined> = []
  /** The algorithm code every request shares, or MIXED. */
  code: string
  constructor (code: string) {
    this.code = code
  }
}

/**
 * A rate's four ARGV parts, `code, limit, windowMs, burst`, as the strings the client would
 * write: made once per compiled rate (the plugin compiles `params` once per route), not per request.
 */
const rateArgs = new WeakMap<object, readonly string[]>()

function argsOf ({ algorithm, params }: StoreBucket): readonly string[] {
  let parts = rateArgs.get(params)
  if (parts === undefined || parts[0] !== algorithm.code) {
    parts = [algorithm.code, String(params.limit), String(params.windowMs), String(params.burst)]
    rateArgs.set(params, parts)
  }
  return parts
}

const SCAN_COUNT = 1000

/**
 * The shared store: buckets in Redis, decided by the Lua twins of the algorithms in one
 * EVALSHA per request, on the Redis server's clock. Works with a standalone server, Sentinel
 * (an ioredis client connected through sentinels) and Cluster (every key of a request shares
 * one hash tag, so one slot).
 */
export class RedisStore implements Store {
  readonly keyPrefix: string
  readonly client: RedisClient
  /** The client the store created from a URL, which it closes; undefined for a given client. */
  #owned: OwnedClient | undefined
  /** Why the owned client is not connected: its last connection error since it was last ready. */
  #connectError: unknown
  #closed = false
  #clock: (() => number) | undefined
  readonly #batching: boolean
  readonly #cluster: boolean
  /** The client's own key prefix, part of the key a Cluster hashes. */
  #clientPrefix = ''
  /** The open batches of this turn, by Cluster hash slot (-1 for a connection that is not a Cluster). */
  readonly #open = new Map<number, Batch>()
  #scheduled = false
  #damaged = 0
  #events: StoreEvents | undefined

  constructor (options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new errors.INVALID_OPTION('RedisStore options', 'an object with client or url', formatValue(options))
    }
    const { client, url, keyPrefix = 'limiter:', clock, batch = true } = options
    if ((client === undefined) === (url === undefined)) {
      throw new errors.INVALID_OPTION('RedisStore options', 'exactly one of client and url', client === undefined ? 'neither' : 'both')
    }
    if (typeof keyPrefix !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(keyPrefix)) {
      throw new errors.INVALID_OPTION('RedisStore keyPrefix', '1 to 64 characters of A-Z a-z 0-9 . _ : -', formatValue(keyPrefix))
    }
    if (clock !== undefined && typeof clock !== 'function') {
      throw new errors.INVALID_OPTION('RedisStore clock', 'a function () => epoch milliseconds', formatValue(clock))
    }
    if (typeof batch !== 'boolean') throw new errors.INVALID_OPTION('RedisStore batch', 'true or false', formatValue(batch))
    this.keyPrefix = keyPrefix
    this.#clock = clock
    this.#batching = batch
    if (client !== undefined) {
      if (client === null || typeof client !== 'object' || typeof client.call !== 'function') {
        throw new errors.INVALID_OPTION('RedisStore client', 'an ioredis or iovalkey Redis or Cluster client', formatValue(client))
      }
      this.client = client
    } else {
      if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
        throw new errors.INVALID_OPTION('RedisStore url', "a URL like 'redis://localhost:6379'", formatValue(url))
      }
      const Redis = loadIoredis()
      // No auto-pipelining: the store already sends one EVALSHA per turn, and ioredis' own
      // pipeline only adds a deferral and a Pipeline object to it. Measured (npm run bench, two
      // full runs and an A/B run): 19.5 against 20.8, 34.8 against 38.0 and 18.4 against 19.9 µs
      // of server CPU per request without it (docs/performance.md)
      // No offline queue (docs/failure-modes.md): while Redis is unreachable a command fails at
      // once, so requests follow onStoreError at once, and nothing queued is replayed (counted a
      // second time) when it returns
      const created = new Redis(url, { enableAutoPipelining: false, enableOfflineQueue: false })
      // Failures reach the plugin through the rejected commands, which say why from this (without
      // a listener ioredis would also print every reconnection error).
      created.on('error', (err) => { this.#connectError = err })
      created.on('ready', () => { this.#connectError = undefined })
      this.client = created
      this.#owned = created
    }
    this.#cluster = this.client.isCluster === true
    if (this.#cluster) this.#clientPrefix = this.client.options?.keyPrefix ?? ''
  }

  consume (buckets: readonly StoreBucket[], cost: number, now?: number): Promise<StoreDecision> {
    return new Promise((resolve, reject) => this[consumeTo](buckets, cost, now, { decided: resolve, failed: reject }))
  }

  /**
   * `consume` without a promise: the decision goes to `sink` (the plugin's fast path, see
   * `consumeTo` in lib/core/store.ts). Never throws.
   * @internal
   */
  [consumeTo] (buckets: readonly StoreBucket[], cost: number, at: number | undefined, sink: DecisionSink): void {
    const now = at ?? this.#clock?.()
    const code = buckets[0].algorithm.code
    let batchCode = code
    for (let i = 0; i < buckets.length; i++) {
      const { key, algorithm } = buckets[i]
      if (scripts[algorithm.code] === undefined) {
        sink.failed(new errors.INVALID_OPTION(`RedisStore bucket ${key}`, 'one of the six built-in algorithms (only they have Lua twins)',
          formatValue(algorithm.name)))
        return
      }
      if (algorithm.code !== code) batchCode = MIXED
    }
    const open = this.#batchFor(buckets, batchCode)
    const batch = open ?? new Batch(batchCode)
    const { keys, args } = batch
    const { rates } = batch
    args.push(cost, now ?? '', buckets.length)
    for (let i = 0; i < buckets.length; i++) {
      keys.push(this.keyPrefix + buckets[i].key)
      const parts = argsOf(buckets[i])
      // a batch holds few rates (one per route and window): a scan finds one at once
      let r = rates.indexOf(parts)
      if (r === -1) r = rates.push(parts) - 1
      args.push(r + 1)
    }
    batch.sinks.push(sink)
    batch.requests.push(buckets)
    batch.nows.push(now)
    if (open === undefined) {
      this.#send(batch)
    } else if (batch.sinks.length >= BATCH_MAX) {
      this.#take(batch)
    }
  }

  /**
   * The open batch this request joins: the connection's, or on a Cluster its hash slot's.
   * Undefined when the request goes alone, at once: when batching is off, or when its keys
   * span slots (it then fails as one EVALSHA would, with CROSSSLOT).
   */
  #batchFor (buckets: readonly StoreBucket[], code: string): Batch | undefined {
    if (!this.#batching) return undefined
    let slot = -1
    if (this.#cluster) {
      slot = clusterSlot(this.#clientPrefix + this.keyPrefix + buckets[0].key)
      for (let i = 1; i < buckets.length; i++) {
        if (clusterSlot(this.#clientPrefix + this.keyPrefix + buckets[i].key) !== slot) return undefined
      }
    }
    let batch = this.#open.get(slot)
    if (batch === undefined) {
      batch = new Batch(code)
      this.#open.set(slot, batch)
      if (!this.#scheduled) {
        this.#scheduled = true
        // the end of this turn: after the I/O callbacks that are running, before any timer
        setImmediate(this.#flush)
      }
    } else if (batch.code !== code) {
      batch.code = MIXED
    }
    return batch
  }

  /** Sends the open `batch` now, and closes it to later requests. */
  #take (batch: Batch): void {
    for (const [slot, open] of this.#open) {
      if (open === batch) {
        this.#open.delete(slot)
        break
      }
    }
    this.#send(batch)
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    for (const batch of this.#open.values()) this.#send(batch)
    this.#open.clear()
  }

  #send (batch: Batch): void {
    const script = batch.code === MIXED ? mixedScript : scripts[batch.code]
    const { args, rates } = batch
    for (let r = 0; r < rates.length; r++) args.push(rates[r][0], rates[r][1], rates[r][2], rates[r][3])
    args.push(rates.length)
    this.#run(script, batch.keys, args).then(
      (reply) => this.#settle(batch, reply as ScriptReply),
      (err: unknown) => {
        // a batch that fails fails each of its requests, which the plugin handles one by one
        for (const sink of batch.sinks) answer(sink, err, true)
      })
  }

  #settle (batch: Batch, r: ScriptReply): void {
    const { sinks, requests, nows } = batch
    const serverNow = r[0]
    for (let j = 0; j < sinks.length; j++) {
      const o = 1 + j * REPLY
      const index = r[o] >> 1
      answer(sinks[j], {
        allowed: (r[o] & 1) === 1,
        limit: requests[j][index].params.limit,
        remaining: r[o + 1],
        resetMs: r[o + 2],
        retryAfterMs: r[o + 3],
        index,
        now: nows[j] ?? serverNow
      })
    }
    for (let i = 1 + sinks.length * REPLY; i < r.length; i++) {
      this.#damaged++
      this.#events?.damaged(batch.keys[r[i] - 1].slice(this.keyPrefix.length))
    }
  }

  /** EVALSHA, and EVAL when the server does not hold the script yet (a restart, a new node, SCRIPT FLUSH). */
  async #run (script: RedisScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await this.client.call('evalsha', script.sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!(err as Error).message.startsWith('NOSCRIPT')) throw this.#explained(err)
      return await this.client.call('eval', script.lua, keys.length, ...keys, ...args)
    }
  }

  /**
   * Resolves once the client is connected (at once for a client that is not an ioredis one, or
   * one made with `lazyConnect` that has not been used yet); rejects with
   * FST_LIMITER_REDIS_UNREACHABLE naming the first connection error (at once when the client this
   * store made has failed to connect already), or when the client was closed. The plugin bounds
   * the wait.
   */
  async ready (events?: StoreEvents): Promise<void> {
    this.#events = events
    const client = this.client as Partial<OwnedClient>
    const { status } = client
    if (typeof status !== 'string' || typeof client.once !== 'function' || typeof client.off !== 'function') return
    if (status === 'ready' || status === 'wait') return
    if (status === 'end') throw new Error('the Redis client was closed')
    // the client this store made already failed to connect: that is the answer, not the next attempt
    if (this.#owned !== undefined && this.#connectError !== undefined) throw this.#explained(this.#connectError)
    const { once, off } = client as OwnedClient
    await new Promise<void>((resolve, reject) => {
      const done = (err?: unknown): void => {
        off.call(client, 'ready', done)
        off.call(client, 'error', done)
        off.call(client, 'end', ended)
        if (err === undefined) resolve()
        else reject(unreachable({ server: serverOf(client.options), error: err, status: client.status as string }, err))
      }
      const ended = (): void => done(new Error('the Redis client was closed'))
      once.call(client, 'ready', done)
      once.call(client, 'error', done)
      once.call(client, 'end', ended)
    })
  }

  /**
   * A command of the client this store made, refused or failed while it is not connected: an
   * error naming the server and why (FST_LIMITER_REDIS_UNREACHABLE). Other errors as they are.
   */
  #explained (err: unknown): unknown {
    const owned = this.#owned
    if (owned === undefined || owned.status === 'ready') return err
    return unreachable({ server: serverOf(owned.options), error: this.#connectError, status: owned.status }, err)
  }

  async reset (key: string): Promise<void> {
    await this.client.call('unlink', this.keyPrefix + key)
  }

  /**
   * Deletes every key under the store's prefix, or only the buckets whose key starts with
   * `prefix` under it, by SCAN MATCH on every master (never KEYS).
   */
  async clear (prefix = ''): Promise<void> {
    await this.#scan((keys) => Promise.all(keys.map((key) => this.client.call('unlink', key))), prefix)
  }

  /**
   * Deletes the buckets whose state has expired at `now` and returns how many. Redis expires
   * keys by itself, on its own clock; this is for an injected clock that has run ahead of it
   * (tests), as the memory store's sweep.
   */
  async sweep (now: number | undefined = this.#clock?.()): Promise<number> {
    let removed = 0
    await this.#scan(async (keys) => {
      for (const key of keys) removed += await this.#run(sweepScript, [key], [now ?? '']) as number
    })
    return removed
  }

  /** Counts the keys under the store's prefix (by SCAN) and reads the servers' memory use. */
  async stats (): Promise<RedisStoreStats> {
    let keys = 0
    await this.#scan((found) => { keys += found.length })
    let memory = 0
    const masters = this.#masters()
    for (const node of masters) {
      const info = await node.call('info', 'memory') as string
      memory += Number((/^used_memory:(\d+)/m.exec(info) as RegExpExecArray)[1])
    }
    return { keys, memory, nodes: masters.length, damaged: this.#damaged }
  }

  async close (): Promise<void> {
    const owned = this.#owned
    if (owned === undefined || this.#closed) return
    this.#closed = true
    // QUIT lets pending replies arrive; on a connection that is down it cannot be sent (no offline
    // queue) and ioredis would go on reconnecting, so then drop the connection at once
    if (owned.status === 'ready') {
      // with auto-pipelining, commands sent just before (a slot's release, a refund) may still wait
      // for the pipeline's next flush, and QUIT would overtake them: a PING goes through the same
      // pipeline, so once it is answered everything sent before it has run
      await owned.call('ping').catch(() => {})
      // the connection may have gone down meanwhile: then QUIT cannot be sent
      await owned.quit().catch(() => owned.disconnect())
    } else {
      owned.disconnect()
    }
  }

  /**
   * Gives `cost` back to every bucket (see `Store.refund`) in one script run by the refund
   * twins, on the server's clock unless `now` is given: atomic like `consume`.
   */
  async refund (buckets: readonly StoreBucket[], cost: number, now: number | undefined = this.#clock?.()): Promise<void> {
    const [keys, args] = this.#arguments(buckets, cost, now)
    await this.#run(scriptFor(buckets, refundScripts, mixedRefundScript), keys, args)
  }

  /**
   * Charges `cost` to every bucket whatever it holds (see `Store.charge`) in one script run by
   * the charge twins, on the server's clock unless `now` is given: atomic like `consume`, and
   * every key keeps a TTL (until its debt is paid back). A ban's gate is never charged, nor sent.
   */
  async charge (buckets: readonly StoreBucket[], cost: number, now: number | undefined = this.#clock?.()): Promise<void> {
    const charged = buckets.filter((bucket) => bucket.algorithm.gate !== true)
    if (charged.length === 0) return
    const [keys, args] = this.#arguments(charged, cost, now)
    await this.#run(scriptFor(charged, chargeScripts, mixedChargeScript), keys, args)
  }

  /** The decision `consume` would return now, by the consume twins in a script that writes nothing. */
  async peek (buckets: readonly StoreBucket[], cost = 1, now: number | undefined = this.#clock?.()): Promise<StoreDecision> {
    const [keys, args] = this.#arguments(buckets, cost, now)
    const r = await this.#run(scriptFor(buckets, peekScripts, mixedPeekScript), keys, args) as ScriptReply
    return { allowed: r[0] === 1, limit: r[1], remaining: r[2], resetMs: r[3], retryAfterMs: r[4], index: r[5], now: r[6] }
  }

  /** KEYS and ARGV of the scripts, as `consume` sends them; throws for an algorithm without twins. */
  #arguments (buckets: readonly StoreBucket[], cost: number, now: number | undefined): [string[], Array<string | number>] {
    const keys: string[] = []
    const args: Array<string | number> = [cost, now ?? '']
    for (const { key, algorithm, params } of buckets) {
      if (scripts[algorithm.code] === undefined) {
        throw new errors.INVALID_OPTION(`RedisStore bucket ${key}`, 'one of the six built-in algorithms (only they have Lua twins)',
          formatValue(algorithm.name))
      }
      keys.push(this.keyPrefix + key)
      args.push(algorithm.code, params.limit, params.windowMs, params.burst)
    }
    return [keys, args]
  }

  #masters (): RedisClient[] {
    return this.client.isCluster ? (this.client.nodes as NonNullable<RedisClient['nodes']>)('master') : [this.client]
  }

  /**
   * Walks the keys under the store's prefix on every master, a page at a time, and hands
   * them to `each` as this client names them (without the client's own `keyPrefix`, which
   * SCAN shows and the client adds again).
   */
  async #scan (each: (keys: string[]) => unknown, under = ''): Promise<void> {
    const clientPrefix = this.client.options.keyPrefix ?? ''
    const match = globEscape(clientPrefix + this.keyPrefix + under) + '*'
    for (const node of this.#masters()) {
      let cursor = '0'
      do {
        const [next, found] = await node.call('scan', cursor, 'MATCH', match, 'COUNT', SCAN_COUNT) as [string, string[]]
        await each(found.map((key) => key.slice(clientPrefix.length)))
        cursor = next
      } while (cursor !== '0')
    }
  }

  /** Counts one denial toward a ban (see `Store.strike`), atomically in one script. */
  async strike (key: string, rule: BanRule, now: number | undefined = this.#clock?.()): Promise<BanStrike> {
    const r = await this.#run(strikeScript, [this.keyPrefix + key], strikeArgs(rule, now)) as [number, number]
    return { until: r[0], started: r[1] === 1 }
  }

  // acquire and release: a concurrency limit's slots, leases in a sorted set per key

  /** Takes one of `limit` slots under `key` (see `Store.acquire`), atomically in one script. */
  async acquire (key: string, limit: number, leaseMs: number, now: number | undefined = this.#clock?.()): Promise<SlotGrant> {
    const token = randomUUID()
    const r = await this.#run(acquireScript, [this.keyPrefix + key], [limit, leaseMs, token, now ?? '']) as [number, number]
    return r[0] === 1 ? { allowed: true, inFlight: r[1], token } : { allowed: false, inFlight: r[1], token: '' }
  }

  /** Gives back the slot `token` names (see `Store.release`). */
  async release (key: string, token: string): Promise<void> {
    await this.client.call('zrem', this.keyPrefix + key, token).catch((err: unknown) => { throw this.#explained(err) })
  }
}

/** The script of a request's buckets: the one of their algorithm, or the mixed one. */
function scriptFor (buckets: readonly StoreBucket[], byCode: Readonly<Record<string, RedisScript>>, mixed: RedisScript): RedisScript {
  const code = buckets[0].algorithm.code
  return buckets.every((b) => b.algorithm.code === code) ? byCode[code] : mixed
}

function globEscape (text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

/**
 * The store the plugin's `redis` option stands for: a URL (the store owns that client), an
 * ioredis client or Cluster (the caller's, never closed), or `true` for the client
 * @fastify/redis decorated `fastify.redis` with.
 * @internal used by lib/options.ts
 */
export function redisShorthand (
  option: string | RedisClient | true,
  fastify: object | undefined,
  clock: (() => number) | undefined
): RedisStore {
  let client = option
  if (option === true) {
    client = (fastify as { redis?: RedisClient })?.redis as RedisClient
    if (client === undefined) {
      throw new errors.INVALID_OPTION('fastify-limiter option redis',
        'fastify.redis, from @fastify/redis registered before fastify-limiter, when it is true', 'true without fastify.redis')
    }
  }
  return new RedisStore(typeof client === 'string' ? { url: client, clock } : { client: client as RedisClient, clock })
}
