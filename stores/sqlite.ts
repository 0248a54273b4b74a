import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import type BetterSqlite3 from 'better-sqlite3'
import { answer, evaluate } from './store.js'
import { encodeState, readState } from '../algorithms/encoding.js'
import { banGateAlgorithm, banStrike } from '../algorithms/ban.js'
import type { BanState } from '../algorithms/ban.js'
import type { Algorithm, BanRule } from '../lib/core/algorithm.js'
import type { BanStrike, SlotGrant, Store, StoreBucket, StoreDecision, StoreEvents, StoreStats } from './store.js'
import type { DecisionSink } from '../lib/core/store.js'
import { consumeTo } from '../lib/core/store.js'
import { errors } from '../lib/core/errors.js'
import { checkInteger, formatValue } from '../lib/core/format.js'

/** Options of `new SqliteStore(options)`. */
export interface SqliteStoreOptions {
  /**
   * The database file, created when absent. Every process that opens the same file shares
   * the same limits, and limits survive restarts; `':memory:'` keeps them in this process.
   * @example new SqliteStore({ path: 'limits.db' })
   */
  path: string
  /**
   * How often expired rows are deleted, in ms. Expired rows are ignored as soon as they
   * expire; the sweep only reclaims space. The timer never keeps the process alive.
   * @default 300_000
   * @example new SqliteStore({ path: 'limits.db', cleanupIntervalMs: 60_000 })
   */
  cleanupIntervalMs?: number
  /**
   * How long a call waits for another connection's write lock before it fails with
   * `FST_LIMITER_SQLITE_BUSY`, in ms. better-sqlite3 is synchronous: the wait blocks the
   * event loop, so keep it short. A group commit waits at most this long in all, the retries
   * of a failed batch included. (The plugin's `sqlite` shorthand defaults it to `storeTimeoutMs`.)
   * @default 5_000
   * @example new SqliteStore({ path: 'limits.db', busyTimeoutMs: 100 })
   */
  busyTimeoutMs?: number
  /**
   * Clock used when `consume` gets no `now`, by `sweep()` and by `stats()`.
   * @default Date.now
   * @example new SqliteStore({ path: ':memory:', clock: () => fakeNow })
   */
  clock?: () => number
  /**
   * Group commit: the `consume` calls of one turn of the event loop are decided in one
   * `BEGIN IMMEDIATE` transaction, one after another exactly as separate calls would be, and
   * `consume` returns a promise. A call alone in its turn runs at the end of that turn. When the
   * transaction fails (a lock held past `busyTimeoutMs`, a failed write), each of its calls is
   * decided again alone, in call order, within what is left of `busyTimeoutMs`: only the calls
   * that still fail are rejected. With `false`, each call is its own transaction and `consume`
   * returns the decision directly (or throws).
   * @default true
   * @example new SqliteStore({ path: 'limits.db', batch: false })
   */
  batch?: boolean
}

export interface SqliteStoreStats extends StoreStats {
  /** Rows in the table, expired ones not yet swept included. */
  rows: number
  /** Size of the database (page count times page size), WAL content included. */
  fileBytes: number
  /** The journal mode SQLite runs in: `wal`, or `memory` for `':memory:'`. */
  journalMode: string
  /** Sweeps of the cleanup timer that failed (a locked database, say); the next one retries. */
  cleanupErrors: number
  /** Damaged states (rows this store did not write) read as empty buckets and deleted, since the store was opened. */
  damaged: number
}

/**
 * The table; the suffix is the schema version, so a future layout never reads this one. v2:
 * `state` holds a state's text form (algorithms/encoding.ts), the one Redis keeps too; v1 held
 * JSON, and a file written by v1 keeps its old table, unread.
 */
const TABLE = 'fastify_limiter_v2'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ${TABLE} (
  key TEXT PRIMARY KEY NOT NULL,
  state TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ${TABLE}_expires_at ON ${TABLE} (expires_at);
`

type Driver = typeof BetterSqlite3

/**
 * Loads better-sqlite3 on first use, so that the package imports without it (it is an
 * optional peer dependency). Typed `unknown` so that the published declarations never name
 * better-sqlite3's types, which users without it do not have. @internal
 */
export function loadDriver (specifier = 'better-sqlite3'): unknown {
  try {
    return createRequire(import.meta.url)(specifier)
  } catch (err) {
    throw new errors.SQLITE_MISSING((err as Error).message, { cause: err })
  }
}

/** better-sqlite3 reports lock timeouts as SQLITE_BUSY (or an extended SQLITE_BUSY_* code). */
function isBusy (err: unknown): boolean {
  return /^SQLITE_(BUSY|LOCKED)/.test(String((err as { code?: unknown }).code))
}

/**
 * A store in one SQLite file, on better-sqlite3. Each `consume` is decided in a `BEGIN IMMEDIATE`
 * transaction that reads every bucket, runs the same `evaluate()` as the memory store and
 * writes the new states only when the request is allowed; so several processes on one
 * machine share limits exactly, and a request's windows are all charged or none is. By default
 * the consumes of one turn share one transaction (`batch`) and `consume` returns a promise; the
 * other calls are synchronous (better-sqlite3 is) and throw `FST_LIMITER_SQLITE_*` errors.
 */
export class SqliteStore<Batched extends boolean = true> implements Store {
  readonly path: string
  readonly cleanupIntervalMs: number
  readonly busyTimeoutMs: number
  readonly journalMode: string
  #db: BetterSqlite3.Database
  #clock: () => number
  #timer: NodeJS.Timeout | undefined
  #cleanupErrors = 0
  #select: BetterSqlite3.Statement<[string, number], string>
  #selectRow: BetterSqlite3.Statement<[string], string>
  #upsert: BetterSqlite3.Statement<[string, string, number]>
  #delete: BetterSqlite3.Statement<[string]>
  #deleteAll: BetterSqlite3.Statement<[]>
  #deleteExpired: BetterSqlite3.Statement<[number]>
  #countLive: BetterSqlite3.Statement<[number], number>
  #countAll: BetterSqlite3.Statement<[], number>
  #consume: BetterSqlite3.Transaction<(buckets: readonly StoreBucket[], cost: number, now: number) => StoreDecision>
  #consumeMany: BetterSqlite3.Transaction<(queue: Queue) => Array<StoreDecision | Error>>
  readonly #batching: boolean
  /** The calls of this turn, waiting for the group commit at its end. */
  #queue: Queue = new Queue()
  #scheduled = false
  /** The connection's busy timeout now: `busyTimeoutMs`, but for what is left of it while one call's wait is being spent. */
  #waitMs: number
  #damaged = 0
  #events: StoreEvents | undefined
  /**
   * With `batch`: `consume` answered through `sink` by the group commit, without a promise (the
   * plugin's fast path, see `consumeTo` in lib/core/store.ts); never throws. Undefined with
   * `batch: false`, whose calls the plugin makes directly: their failures are synchronous ones.
   * @internal
   */
  readonly [consumeTo]: ((buckets: readonly StoreBucket[], cost: number, now: number | undefined, sink: DecisionSink) => void) | undefined

  constructor (options: SqliteStoreOptions & { batch?: Batched }) {
    if (options === null || typeof options !== 'object') {
      throw new errors.INVALID_OPTION('SqliteStore options', 'an object with a path', formatValue(options))
    }
    const { path, cleanupIntervalMs = 300_000, busyTimeoutMs = 5_000, clock = Date.now, batch = true } = options
    if (typeof path !== 'string' || path === '') {
      throw new errors.INVALID_OPTION('SqliteStore path', "a database file path like 'limits.db'", formatValue(path))
    }
    this.path = path
    this.cleanupIntervalMs = checkInteger('SqliteStore cleanupIntervalMs', cleanupIntervalMs, 1)
    this.busyTimeoutMs = this.#waitMs = checkInteger('SqliteStore busyTimeoutMs', busyTimeoutMs, 0, 2 ** 31 - 1)
    if (typeof clock !== 'function') throw new errors.INVALID_OPTION('SqliteStore clock', 'a function', formatValue(clock))
    this.#clock = clock
    if (typeof batch !== 'boolean') throw new errors.INVALID_OPTION('SqliteStore batch', 'true or false', formatValue(batch))
    this.#batching = batch
    this[consumeTo] = batch ? this.#sinkTo : undefined

    const Database = loadDriver() as Driver
    const db = this.#db = this.#open(Database)
    try {
      // WAL lets readers run beside the writer; NORMAL syncs at checkpoints, not at every
      // commit: a crash of the process loses nothing, a power cut may lose the last commits.
      this.journalMode = db.pragma('journal_mode = WAL', { simple: true }) as string
      db.pragma('synchronous = NORMAL')
      db.exec(SCHEMA)
      this.#select = db.prepare<[string, number], string>(`SELECT state FROM ${TABLE} WHERE key = ? AND expires_at > ?`).pluck()
      // a row as one string, 'expires_at,state': a plucked string reads about 1 µs faster than a row of two columns
      this.#selectRow = db.prepare<[string], string>(`SELECT expires_at || ',' || state FROM ${TABLE} WHERE key = ?`).pluck()
      this.#upsert = db.prepare(`INSERT INTO ${TABLE} (key, state, expires_at) VALUES (?, ?, ?)
        ON CONFLICT (key) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at`)
      this.#delete = db.prepare(`DELETE FROM ${TABLE} WHERE key = ?`)
      this.#deleteAll = db.prepare(`DELETE FROM ${TABLE}`)
      this.#deleteExpired = db.prepare(`DELETE FROM ${TABLE} WHERE expires_at <= ?`)
      this.#countLive = db.prepare<[number], number>(`SELECT count(*) FROM ${TABLE} WHERE expires_at > ?`).pluck()
      this.#countAll = db.prepare<[], number>(`SELECT count(*) FROM ${TABLE}`).pluck()
    } catch (err) {
      db.close()
      throw new errors.SQLITE_OPEN(path, (err as Error).message, { cause: err })
    }
    this.#consume = db.transaction((buckets, cost, now) => {
      const held = new Map<string, Held>()
      const decision = this.#decide(held, buckets, cost, now)
      this.#write(held)
      return decision
    })
    this.#consumeMany = db.transaction((queue) => {
      const decisions: Array<StoreDecision | Error> = new Array(queue.size)
      const held = new Map<string, Held>()
      for (let j = 0; j < queue.size; j++) {
        try {
          decisions[j] = this.#decide(held, queue.buckets[j], queue.costs[j], queue.nows[j])
        } catch (err) {
          // a request that fails (a custom algorithm that throws) changed nothing: it fails
          // alone. Some errors end the transaction (SQLite rolls back by itself on SQLITE_FULL or
          // SQLITE_IOERR, say: what ran after would run outside it): they fail the batch
          if (!db.inTransaction) throw err
          decisions[j] = this.#fail('consume', err)
        }
      }
      // a failed write fails the batch, whose calls are decided again alone
      this.#write(held)
      return decisions
    })

    this.#timer = setInterval(() => {
      try {
        this.sweep()
      } catch {
        this.#cleanupErrors++
      }
    }, this.cleanupIntervalMs)
    this.#timer.unref()
  }

  #open (Database: Driver): BetterSqlite3.Database {
    try {
      return new Database(this.path, { timeout: this.busyTimeoutMs })
    } catch (err) {
      throw new errors.SQLITE_OPEN(this.path, (err as Error).message, { cause: err })
    }
  }

  /**
   * Runs inside the transaction: reads every bucket, decides, and when the request is allowed
   * keeps the new states in `held`, which `#write` writes at the end. Each key is read from the
   * table once per transaction: the later requests of a group commit read the states the earlier
   * ones left in `held`, and only the last one is written. Nothing outside the transaction can see
   * the states in between, so every decision is the one the request would get alone, after the
   * requests before it.
   */
  #decide (held: Map<string, Held>, buckets: readonly StoreBucket[], cost: number, now: number): StoreDecision {
    const current: unknown[] = new Array(buckets.length)
    for (let i = 0; i < buckets.length; i++) current[i] = this.#hold(held, buckets[i], now)
    const { decision, states, ttls } = evaluate(buckets, current, cost, now)
    if (decision.allowed) {
      for (let i = 0; i < buckets.length; i++) {
        // a ban's gate only reads (algorithms/ban.ts)
        if (buckets[i].algorithm.gate === true) continue
        const h = held.get(buckets[i].key) as Held
        h.state = states[i]
        h.text = undefined
        h.expiresAt = now + ttls[i]
        h.written = true
      }
    }
    return decision
  }

  /** Writes each key's last state, once: those the requests of the transaction changed. */
  #write (held: Map<string, Held>): void {
    for (const [key, h] of held) {
      if (h.written) this.#upsert.run(key, encodeState(h.algorithm, h.state as object), h.expiresAt)
    }
  }

  /** What `#load` reads at `now`, from `held` once the transaction has read the key. */
  #hold (held: Map<string, Held>, bucket: StoreBucket, now: number): unknown {
    let h = held.get(bucket.key)
    if (h === undefined) {
      const row = this.#selectRow.get(bucket.key)
      const comma = row === undefined ? -1 : row.indexOf(',')
      h = comma === -1
        ? { text: undefined, state: undefined, expiresAt: 0, algorithm: bucket.algorithm, written: false }
        : { text: (row as string).slice(comma + 1), state: undefined, expiresAt: Number((row as string).slice(0, comma)), algorithm: bucket.algorithm, written: false }
      held.set(bucket.key, h)
    }
    // the calls of a turn may carry different instants: a row is live or not at each one's own
    if (h.expiresAt <= now) return undefined
    if (h.text !== undefined) {
      // read as #load does, the first time the row is live: a damaged one is deleted, once
      h.state = readState(bucket.algorithm, h.text)
      h.text = undefined
      if (h.state === undefined) {
        this.#damage(bucket.key)
        h.expiresAt = 0
      }
    }
    return h.state
  }

  /**
   * A bucket's live state, or undefined: none, expired, or damaged (a row this store did not
   * write), which is an empty bucket, deleted so that it is reported once, never a store failure.
   */
  #load (bucket: StoreBucket, now: number): unknown {
    const text = this.#select.get(bucket.key, now)
    if (text === undefined) return undefined
    const state = readState(bucket.algorithm, text)
    if (state === undefined) this.#damage(bucket.key)
    return state
  }

  #damage (key: string): void {
    this.#delete.run(key)
    this.#damaged++
    this.#events?.damaged(key)
  }

  /** Wraps a driver error in a coded one; a lock held past `busyTimeoutMs` gets its own code. */
  #fail (operation: string, err: unknown): Error {
    if (isBusy(err)) return new errors.SQLITE_BUSY(this.path, operation, this.busyTimeoutMs, { cause: err })
    return new errors.SQLITE_FAILED(this.path, operation, (err as Error).message, { cause: err })
  }

  /**
   * A synchronous call on the buckets. The consumes queued before it are committed first, so
   * that it sees the world as their call order says (a refund of a charge still queued gives
   * it back; a peek sees it), and that commit and the call share one wait for the lock.
   */
  #run<T> (operation: string, fn: () => T): T {
    let result: T
    try {
      if (this.#queue.size !== 0) {
        const began = performance.now()
        this.#commit(began)
        this.#waitAtMost(began)
      }
      result = fn()
    } catch (err) {
      throw this.#fail(operation, err)
    } finally {
      this.#restoreWait()
    }
    return result
  }

  /** A synchronous call on the leases only, which no consume reads: the queued consumes can wait for the end of the turn. */
  #runLeases<T> (operation: string, fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      throw this.#fail(operation, err)
    }
  }

  /** Lets the next statements wait for the lock only for what is left of `busyTimeoutMs` since `began`. */
  #waitAtMost (began: number): void {
    const left = Math.max(0, Math.ceil(this.busyTimeoutMs - (performance.now() - began)))
    if (left === this.#waitMs) return
    this.#db.pragma(`busy_timeout = ${left}`)
    this.#waitMs = left
  }

  /** Gives the next call its whole `busyTimeoutMs` again. */
  #restoreWait (): void {
    if (this.#waitMs === this.busyTimeoutMs || !this.#db.open) return
    this.#db.pragma(`busy_timeout = ${this.busyTimeoutMs}`)
    this.#waitMs = this.busyTimeoutMs
  }

  /** A promise of the decision, settled by the group commit at the end of the turn; with `batch: false` the decision itself. */
  consume (buckets: readonly StoreBucket[], cost: number, now: number = this.#clock()): Batched extends true ? Promise<StoreDecision> : StoreDecision {
    type Result = Batched extends true ? Promise<StoreDecision> : StoreDecision
    if (!this.#batching) return this.#run('consume', () => this.#consume.immediate(buckets, cost, now)) as Result
    return new Promise<StoreDecision>((resolve, reject) => this.#enqueue(buckets, cost, now, { decided: resolve, failed: reject })) as Result
  }

  readonly #sinkTo = (buckets: readonly StoreBucket[], cost: number, now: number | undefined, sink: DecisionSink): void => {
    let at: number
    try {
      at = now ?? this.#clock()
    } catch (err) {
      answer(sink, err, true)
      return
    }
    this.#enqueue(buckets, cost, at, sink)
  }

  /** Queues a call for the group commit at the end of this turn. */
  #enqueue (buckets: readonly StoreBucket[], cost: number, now: number, sink: DecisionSink): void {
    if (!this.#scheduled) {
      this.#scheduled = true
      // the end of this turn: after the I/O callbacks that are running, before any timer
      setImmediate(this.#endOfTurn)
    }
    this.#queue.add(buckets, cost, now, sink)
  }

  readonly #endOfTurn = (): void => {
    this.#scheduled = false
    this.#commit(performance.now())
  }

  /**
   * The group commit: one transaction for the queued calls, each answered on its own. When
   * the transaction fails it has charged nothing, and each call is decided again alone, in call
   * order, as `batch: false` would: the failure stays with the calls that cause it. Their lock
   * waits share what is left of `busyTimeoutMs` since `began`, so a lock held past it is not
   * waited for again per call, and the commit holds the event loop about `busyTimeoutMs` at most.
   */
  #commit (began: number): void {
    const queue = this.#queue
    if (queue.size === 0) return
    this.#queue = new Queue()
    let outcomes: Array<StoreDecision | Error>
    try {
      outcomes = this.#consumeMany.immediate(queue)
    } catch {
      outcomes = this.#alone(queue, began)
    }
    for (let j = 0; j < queue.size; j++) {
      const outcome = outcomes[j]
      if (outcome instanceof Error) answer(queue.sinks[j], outcome, true)
      else answer(queue.sinks[j], outcome)
    }
  }

  /** Decides each call of a failed batch in a transaction of its own (see `#commit`). */
  #alone (queue: Queue, began: number): Array<StoreDecision | Error> {
    const outcomes: Array<StoreDecision | Error> = new Array(queue.size)
    for (let j = 0; j < queue.size; j++) {
      try {
        this.#waitAtMost(began)
        outcomes[j] = this.#consume.immediate(queue.buckets[j], queue.costs[j], queue.nows[j])
      } catch (err) {
        outcomes[j] = this.#fail('consume', err)
      }
    }
    this.#restoreWait()
    return outcomes
  }

  /** Keeps `events` to report damaged states through; a file store is ready once open. */
  ready (events?: StoreEvents): void {
    this.#events = events
  }

  /** Forgets the bucket under `key`, or the concurrency slots (leases) held under it. */
  reset (key: string): void {
    this.#run('reset', () => {
      this.#delete.run(key)
      this.#leaseCleanup()?.key.run(key)
    })
  }

  /** Forgets every bucket and concurrency lease, or those whose key starts with `prefix`. */
  clear (prefix?: string): void {
    this.#run('clear', () => {
      const leases = this.#leaseCleanup()
      if (prefix === undefined || prefix === '') {
        leases?.all.run()
        return this.#deleteAll.run()
      }
      leases?.prefix.run({ prefix })
      this.#deletePrefix ??= this.#db.prepare(`DELETE FROM ${TABLE} WHERE substr(key, 1, length(@prefix)) = @prefix`)
      return this.#deletePrefix.run({ prefix })
    })
  }

  #leaseDeletes: LeaseDeletes | undefined

  /**
   * The statements that drop leases for `reset` and `clear`, once the leases table exists (made
   * by the first acquire of this or another process on the file); undefined before: no lease.
   */
  #leaseCleanup (): LeaseDeletes | undefined {
    if (this.#leaseDeletes !== undefined) return this.#leaseDeletes
    const table = `${TABLE}_leases`
    if (this.#db.prepare('SELECT 1 FROM sqlite_master WHERE type = \'table\' AND name = ?').get(table) === undefined) return undefined
    this.#leaseDeletes = {
      key: this.#db.prepare(`DELETE FROM ${table} WHERE key = ?`),
      all: this.#db.prepare(`DELETE FROM ${table}`),
      prefix: this.#db.prepare(`DELETE FROM ${table} WHERE substr(key, 1, length(@prefix)) = @prefix`)
    }
    return this.#leaseDeletes
  }

  /** Deletes expired rows; runs on the cleanup timer. Returns how many were deleted. */
  sweep (now: number = this.#clock()): number {
    return this.#run('sweep', () => this.#deleteExpired.run(now).changes)
  }

  stats (): SqliteStoreStats {
    return this.#run('stats', () => ({
      keys: this.#countLive.get(this.#clock()) as number,
      rows: this.#countAll.get() as number,
      fileBytes: (this.#db.pragma('page_count', { simple: true }) as number) *
        (this.#db.pragma('page_size', { simple: true }) as number),
      journalMode: this.journalMode,
      cleanupErrors: this.#cleanupErrors,
      damaged: this.#damaged
    }))
  }

  /** Decides the consumes still queued, stops the cleanup timer and closes the database; calling it again does nothing. */
  close (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    if (!this.#db.open) return
    this.#commit(performance.now())
    this.#db.close()
  }

  // refund, charge, peek and clear(prefix): their statements and transactions are made on first use

  #deletePrefix: BetterSqlite3.Statement<[{ prefix: string }]> | undefined
  #refund: BetterSqlite3.Transaction<(buckets: readonly StoreBucket[], cost: number, now: number) => void> | undefined
  #peek: BetterSqlite3.Transaction<(buckets: readonly StoreBucket[], cost: number, now: number) => StoreDecision> | undefined

  /**
   * Gives `cost` back to every bucket (see `Store.refund`) in one `BEGIN IMMEDIATE`
   * transaction, as `consume` charges them: so a refund never interleaves with another
   * process's consume of the same buckets.
   */
  refund (buckets: readonly StoreBucket[], cost: number, now: number = this.#clock()): void {
    this.#run('refund', () => {
      this.#refund ??= this.#db.transaction((buckets, cost, now) => {
        for (const bucket of buckets) {
          const { key, algorithm, params } = bucket
          const current = this.#load(bucket, now)
          const { state, ttlMs } = algorithm.refund(current, now, cost, params)
          if (state !== undefined) {
            this.#upsert.run(key, encodeState(algorithm, state as object), now + ttlMs)
          } else if (current !== undefined) {
            // an empty bucket is no state
            this.#delete.run(key)
          }
        }
      })
      this.#refund.immediate(buckets, cost, now)
    })
  }

  #charge: BetterSqlite3.Transaction<(buckets: readonly StoreBucket[], cost: number, now: number) => void> | undefined

  /**
   * Charges `cost` to every bucket whatever it holds (see `Store.charge`) in one `BEGIN
   * IMMEDIATE` transaction, as `refund` gives back: so a charge never interleaves with another
   * process's consume of the same buckets.
   */
  charge (buckets: readonly StoreBucket[], cost: number, now: number = this.#clock()): void {
    this.#run('charge', () => {
      this.#charge ??= this.#db.transaction((buckets, cost, now) => {
        for (const bucket of buckets) {
          // a ban's gate is never charged (algorithms/ban.ts)
          if (bucket.algorithm.gate === true) continue
          const { state, ttlMs } = bucket.algorithm.charge(this.#load(bucket, now), now, cost, bucket.params)
          this.#upsert.run(bucket.key, encodeState(bucket.algorithm, state as object), now + ttlMs)
        }
      })
      this.#charge.immediate(buckets, cost, now)
    })
  }

  /**
   * The decision `consume` would return now, with nothing written: the buckets are read in one
   * read transaction, so together they are one snapshot.
   */
  peek (buckets: readonly StoreBucket[], cost = 1, now: number = this.#clock()): StoreDecision {
    return this.#run('peek', () => {
      this.#peek ??= this.#db.transaction((buckets, cost, now) => {
        const current: unknown[] = new Array(buckets.length)
        for (let i = 0; i < buckets.length; i++) {
          // a damaged state reads as an empty bucket; peek writes nothing, so consume deletes it later
          const text = this.#select.get(buckets[i].key, now)
          if (text !== undefined) current[i] = readState(buckets[i].algorithm, text)
        }
        return evaluate(buckets, current, cost, now).decision
      })
      return this.#peek.deferred(buckets, cost, now)
    })
  }

  #strike: BetterSqlite3.Transaction<(key: string, rule: BanRule, now: number) => BanStrike> | undefined

  /**
   * Counts one denial toward a ban (see `Store.strike`) in one `BEGIN IMMEDIATE` transaction:
   * of several processes striking the same identity at once, exactly one starts the ban. The
   * ban state is a row of the buckets' table (its key ends in `}:ban`), read by `consume`'s gate.
   */
  strike (key: string, rule: BanRule, now: number = this.#clock()): BanStrike {
    return this.#run('strike', () => {
      this.#strike ??= this.#db.transaction((key, rule, now) => {
        const current = this.#load({ key, algorithm: banGateAlgorithm, params: NO_PARAMS }, now) as BanState | undefined
        const result = banStrike(current, now, rule)
        if (result.state !== undefined) this.#upsert.run(key, encodeState(banGateAlgorithm, result.state), now + result.ttlMs)
        return { until: result.until, started: result.started }
      })
      return this.#strike.immediate(key, rule, now)
    })
  }

  // acquire and release: a concurrency limit's slots, as leases in a table of their own, made
  // on first use

  #acquire: BetterSqlite3.Transaction<(key: string, limit: number, leaseMs: number, now: number) => SlotGrant> | undefined
  #release: BetterSqlite3.Statement<[string, string]> | undefined

  /**
   * Takes one of `limit` slots under `key` (see `Store.acquire`) in one `BEGIN IMMEDIATE`
   * transaction: expired leases (of every key) are dropped, the live ones counted and, below `limit`, one
   * more written; so several processes on one file never hold more than `limit` together.
   */
  acquire (key: string, limit: number, leaseMs: number, now: number = this.#clock()): SlotGrant {
    return this.#runLeases('acquire', () => {
      if (this.#acquire === undefined) {
        this.#db.exec(`CREATE TABLE IF NOT EXISTS ${TABLE}_leases (
  key TEXT NOT NULL,
  token TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (key, token)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ${TABLE}_leases_expires_at ON ${TABLE}_leases (expires_at)`)
        // every expired lease, whatever its key: the table cannot grow with keys no longer used
        const expire = this.#db.prepare(`DELETE FROM ${TABLE}_leases WHERE expires_at <= ?`)
        const count = this.#db.prepare<[string], number>(`SELECT count(*) FROM ${TABLE}_leases WHERE key = ?`).pluck()
        const insert = this.#db.prepare(`INSERT INTO ${TABLE}_leases (key, token, expires_at) VALUES (?, ?, ?)`)
        this.#release = this.#db.prepare(`DELETE FROM ${TABLE}_leases WHERE key = ? AND token = ?`)
        this.#acquire = this.#db.transaction((key, limit, leaseMs, now) => {
          expire.run(now)
          const held = count.get(key) as number
          if (held >= limit) return { allowed: false, inFlight: held, token: '' }
          const token = randomUUID()
          insert.run(key, token, now + leaseMs)
          return { allowed: true, inFlight: held + 1, token }
        })
      }
      return this.#acquire.immediate(key, limit, leaseMs, now)
    })
  }

  /** Gives back the slot `token` names (see `Store.release`). */
  release (key: string, token: string): void {
    // before any acquire there is no lease to give back (and maybe no table yet)
    if (this.#release === undefined) return
    const statement = this.#release
    this.#runLeases('release', () => statement.run(key, token))
  }
}

/** A ban state's bucket has no rate: `#load` only reads its key and algorithm. */
const NO_PARAMS = { limit: 1, windowMs: 1, burst: 1 }

/** The statements that drop concurrency leases (`reset`, `clear`). */
interface LeaseDeletes {
  readonly key: BetterSqlite3.Statement<[string]>
  readonly all: BetterSqlite3.Statement<[]>
  readonly prefix: BetterSqlite3.Statement<[{ prefix: string }]>
}

/** A key's row as a consume transaction sees it: read once, then the states its requests leave. */
interface Held {
  /** The stored state, not decoded yet (until the first request at which the row is live). */
  text: string | undefined
  state: unknown
  /** 0 for no row. */
  expiresAt: number
  algorithm: Algorithm<any>
  /** Whether a request changed it: then it is written at the transaction's end. */
  written: boolean
}

/** The calls waiting for one group commit, as parallel arrays (no object per call). */
class Queue {
  size = 0
  readonly buckets: Array<readonly StoreBucket[]> = []
  readonly costs: number[] = []
  readonly nows: number[] = []
  readonly sinks: DecisionSink[] = []

  add (buckets: readonly StoreBucket[], cost: number, now: number, sink: DecisionSink): void {
    this.size++
    this.buckets.push(buckets)
    this.costs.push(cost)
    this.nows.push(now)
    this.sinks.push(sink)
  }
}
