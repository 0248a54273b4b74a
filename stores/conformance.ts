import assert from 'node:assert/strict'
import { algorithmNames, algorithms } from '../algorithms/index.js'
import { banGateAlgorithm, banStrike } from '../algorithms/ban.js'
import type { BanState } from '../algorithms/ban.js'
import type { AlgorithmName, AlgorithmParams, BanRule } from '../lib/core/algorithm.js'
import { evaluate } from './store.js'
import type { Store, StoreBucket, StoreDecision } from './store.js'

/**
 * The store conformance suite: the cases every store must pass, run by the memory, SQLite
 * and Redis stores against their real backends, and exported as `fastify-limiter/test-suite`
 * for custom stores. It asserts with `node:assert` and only calls `t.test(name, fn)`, so it
 * runs under tap and under `node:test` alike.
 *
 * @example
 * import t from 'tap'
 * import { storeConformance } from 'fastify-limiter/test-suite'
 * await storeConformance(t, { name: 'my store', makeStore: (clock) => new MyStore({ clock }) })
 */

/** The part of a tap `Test` or a `node:test` `TestContext` the suite uses. */
export interface ConformanceTest {
  test (name: string, fn: (t: any) => Promise<void>): unknown
}

export interface ConformanceOptions<S extends Store = Store> {
  /** Names the store in every test name. */
  name: string
  /**
   * Makes a new, empty store. `clock` is the suite's hand-moved clock: a store that supports
   * an injected clock uses it whenever `consume` gets no `now`, and for expiry and `stats()`.
   */
  makeStore (clock: () => number): S | Promise<S>
  /**
   * Whether the store decides at the `now` it is given (and at `clock()` otherwise). False for
   * a store that keeps its own time (Redis `TIME`): the suite then compares decisions at the
   * `now` the store reports and leaves out the cases that move the clock.
   * @default true
   */
  supportsInjectedClock?: boolean
  /**
   * Deletes expired buckets now, as the store's cleanup timer would.
   * @default calls `store.sweep()` when the store has one
   */
  cleanup?: (store: S) => unknown
  /**
   * Random request sequences per algorithm compared against the reference.
   * @default 40
   */
  runs?: number
  /**
   * Seed of the random sequences; a failure message names the seed and run to replay.
   * @default 20_251_125
   */
  seed?: number
  /**
   * Whether the store has the contract's optional `refund` and `peek` (every built-in store
   * does); their cases run when true. A store without them says so here, and the plugin
   * refuses the features that need them (`count`, `peek()`) with it.
   * @default true
   */
  refunds?: boolean
  /**
   * Whether to run the cases of the optional `charge` (costs settled after the response, which
   * may take a bucket into debt).
   * @default true when the store has `charge`
   */
  charges?: boolean
  /**
   * Whether to run the cases of the optional `acquire` and `release` (concurrency slots).
   * @default true when the store has both methods
   */
  slots?: boolean
  /**
   * Whether to run the cases of the optional `strike` (bans) and of a ban's gate in `consume`.
   * @default true when the store has `strike`
   */
  bans?: boolean
  /**
   * Whether the store's slots are leases that expire `leaseMs` after they were taken (SQLite
   * and Redis; the memory store's slots end with its process and need none).
   * @default true
   */
  leases?: boolean
}

/** The suite's clock: starts at a fixed instant and moves only when a case moves it. */
class ManualClock {
  now = 1_700_000_000_000
  readonly read = (): number => this.now
}

/** mulberry32: a small seeded PRNG, so every failure can be replayed from its seed. */
function random (seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n)
  }
}

/** A shuffled copy of `items` (Fisher-Yates). */
function shuffle<T> (items: readonly T[], rand: (n: number) => number): T[] {
  const copy = items.slice()
  for (let i = copy.length - 1; i > 0; i--) {
    const j = rand(i + 1)
    const swap = copy[i]
    copy[i] = copy[j]
    copy[j] = swap
  }
  return copy
}

/**
 * The reference store: the pure `evaluate()` over a `Map`, expired states treated as absent.
 * Every store must decide exactly as this does.
 */
class Reference {
  #map = new Map<string, { state: unknown, expiresAt: number }>()

  consume (buckets: readonly StoreBucket[], cost: number, now: number): StoreDecision {
    const { decision, states, ttls } = evaluate(buckets, this.#current(buckets, now), cost, now)
    if (decision.allowed) {
      buckets.forEach(({ key }, i) => this.#map.set(key, { state: states[i], expiresAt: now + ttls[i] }))
    }
    return decision
  }

  reset (key: string): void {
    this.#map.delete(key)
  }

  refund (buckets: readonly StoreBucket[], cost: number, now: number): void {
    const current = this.#current(buckets, now)
    for (const [i, { key, algorithm, params }] of buckets.entries()) {
      const { state, ttlMs } = algorithm.refund(current[i], now, cost, params)
      if (state === undefined) this.#map.delete(key)
      else this.#map.set(key, { state, expiresAt: now + ttlMs })
    }
  }

  peek (buckets: readonly StoreBucket[], cost: number, now: number): StoreDecision {
    return evaluate(buckets, this.#current(buckets, now), cost, now).decision
  }

  charge (buckets: readonly StoreBucket[], cost: number, now: number): void {
    const current = this.#current(buckets, now)
    buckets.forEach(({ key, algorithm, params }, i) => {
      if (algorithm.gate === true) return
      const { state, ttlMs } = algorithm.charge(current[i], now, cost, params)
      this.#map.set(key, { state, expiresAt: now + ttlMs })
    })
  }

  /** The live state of each bucket: an expired one is none. */
  #current (buckets: readonly StoreBucket[], now: number): unknown[] {
    return buckets.map(({ key }) => {
      const entry = this.#map.get(key)
      return entry !== undefined && entry.expiresAt > now ? entry.state : undefined
    })
  }
}

/** A store with the optional methods of the contract. */
type Refunding = Store & Required<Pick<Store, 'refund' | 'peek'>>

/** The fields of a decision the contract defines (a store may return more). */
function decisionOf (d: StoreDecision): StoreDecision {
  const { allowed, limit, remaining, resetMs, retryAfterMs, index, now } = d
  return { allowed, limit, remaining, resetMs, retryAfterMs, index, now }
}

function bucket (key: string, name: AlgorithmName, limit: number, windowMs: number): StoreBucket {
  return withBurst(key, name, { limit, windowMs, burst: limit })
}

/** A bucket of an algorithm that takes a `burst` of its own (the window ones ignore it). */
function withBurst (key: string, name: AlgorithmName, rate: AlgorithmParams): StoreBucket {
  const algorithm = algorithms[name]
  const { limit, windowMs } = rate
  return { key, algorithm, params: { limit, windowMs, burst: algorithm.usesBurst ? rate.burst : limit } }
}

const MINUTE = 60_000
const DAY = 86_400_000

/**
 * Three buckets of `algorithm` under `prefix`, each with a random rate (in the plugin a key
 * names its rate): the pool of the random sequences of refunds and charges.
 */
function randomPool (prefix: string, algorithm: AlgorithmName, rand: (n: number) => number): StoreBucket[] {
  return Array.from({ length: 3 }, (_, i) => {
    const limit = 1 + rand(8)
    return withBurst(`${prefix}:${i}`, algorithm, { limit, windowMs: [1000, MINUTE, 1 + rand(5000)][rand(3)], burst: limit + rand(6) })
  })
}

/**
 * Registers the conformance cases on `t`, one subtest each, and resolves when they have run.
 * Every case makes its own store and closes it.
 */
export async function storeConformance<S extends Store> (t: ConformanceTest, options: ConformanceOptions<S>): Promise<void> {
  const { name, makeStore, supportsInjectedClock = true, runs = 40, seed = 20_251_125, refunds = true } = options
  const cleanup = options.cleanup ?? ((store: S) => (store as S & { sweep?: () => unknown }).sweep?.())

  /** Runs `fn` on a new store with a new clock, and closes the store however `fn` ends. */
  async function withStore (fn: (store: S, clock: ManualClock) => Promise<void>): Promise<void> {
    const clock = new ManualClock()
    const store = await makeStore(clock.read)
    try {
      await fn(store, clock)
    } finally {
      await store.close()
    }
  }

  /**
   * Runs `runs / 2` random sequences of 40 steps on `algorithm`, each on a new store and clock,
   * with a random source seeded `offset` apart from the other sequences', a reference, and a
   * pool of buckets under `prefix`. `begin` starts a sequence and returns its step, which each
   * step calls with a time (the clock moved on by 0, up to 1 s or up to 2 min), the `now` to
   * pass (half the time none: the store reads its clock) and one to three buckets of the pool.
   */
  async function randomRuns (
    algorithm: AlgorithmName, offset: number, prefix: string, begin: (run: RandomRun) => (step: RandomStep) => Promise<void>
  ): Promise<void> {
    for (let run = 0; run < Math.ceil(runs / 2); run++) {
      await withStore(async (store, clock) => {
        const rand = random(seed + offset + run * 7919 + algorithmNames.indexOf(algorithm) * 104_729)
        const reference = new Reference()
        const pool = randomPool(`${prefix}:${run}`, algorithm, rand)
        const step = begin({ store, clock, rand, reference })
        clock.now += rand(DAY)
        for (let i = 0; i < 40; i++) {
          const where = `seed ${seed}, run ${run}, step ${i} (${algorithm})`
          clock.now += [0, rand(1000), rand(120_000)][rand(3)]
          const now = rand(2) === 0 ? clock.now : undefined
          await step({ now, chosen: shuffle(pool, rand).slice(0, 1 + rand(3)), where })
        }
      })
    }
  }

  interface RandomRun {
    store: S
    clock: ManualClock
    rand: (n: number) => number
    reference: Reference
  }

  interface RandomStep {
    now: number | undefined
    chosen: StoreBucket[]
    where: string
  }

  /** Consumes on the store and on the reference at the store's `now`; they must agree. */
  /** One consume on the store under test and on the pure reference, which must decide alike. */
  async function agree ({ store, reference }: { store: S, reference: Reference }, { buckets, cost, now }: { buckets: StoreBucket[], cost: number, now?: number }, where: string) {
    const actual = decisionOf(await store.consume(buckets, cost, now))
    const expected = reference.consume(buckets, cost, actual.now)
    assert.deepEqual(actual, expected, `${name}: ${where}`)
    return actual
  }

  for (const algorithm of algorithmNames) {
    await t.test(`${name}: ${algorithm} decides as the pure reference on random sequences`, async () => {
      for (let run = 0; run < runs; run++) {
        await withStore(async (store, clock) => {
          await randomSequence(store, clock, algorithm, run)
        })
      }
    })
  }

  async function randomSequence (store: S, clock: ManualClock, algorithm: AlgorithmName, run: number): Promise<void> {
    const runSeed = seed + run * 7919 + algorithmNames.indexOf(algorithm) * 104_729
    const rand = random(runSeed)
    const reference = new Reference()
    // A pool of keys, each with its own rate (in the plugin a key names its rate).
    const pool = Array.from({ length: 4 }, (_, i) => {
      const limit = 1 + rand(8)
      const windowMs = [1000, MINUTE, 3_600_000, 1 + rand(5000)][rand(4)]
      return withBurst(`conformance:${run}:${i}`, algorithm, { limit, windowMs, burst: limit + rand(6) })
    })
    const longest = Math.max(...pool.map((b) => b.params.windowMs))
    clock.now += rand(DAY)
    for (let step = 0; step < 40; step++) {
      const where = `seed ${seed}, run ${run}, step ${step} (${algorithm})`
      // same instant, a few ms to a second, or up to two of the longest windows
      if (supportsInjectedClock) clock.now += [0, rand(1000), rand(2 * longest)][rand(3)]
      if (rand(20) === 0) {
        const { key } = pool[rand(pool.length)]
        await store.reset(key)
        reference.reset(key)
        continue
      }
      // one to three distinct keys, in a random order: the windows of one request
      const chosen = shuffle(pool, rand).slice(0, 1 + rand(3))
      const maxCost = Math.min(...chosen.map((b) => b.params.burst))
      const cost = 1 + rand(maxCost)
      // half the calls pass `now`, half leave the store to read its clock
      const now = supportsInjectedClock && rand(2) === 0 ? clock.now : undefined
      await agree({ store, reference }, { buckets: chosen, cost, now }, where)
    }
  }

  for (const algorithm of algorithmNames) {
    await t.test(`${name}: ${algorithm}: a request denied by one window charges none`, async () => {
      await withStore(async (store) => {
        const reference = new Reference()
        const loose = bucket('all-or-nothing:loose', algorithm, 5, MINUTE)
        const tight = bucket('all-or-nothing:tight', algorithm, 2, MINUTE)
        const fresh = bucket('all-or-nothing:fresh', algorithm, 5, MINUTE)
        for (let i = 0; i < 2; i++) await agree({ store, reference }, { buckets: [loose, tight], cost: 1 }, `allowed ${i}`)
        const denied = await agree({ store, reference }, { buckets: [tight, fresh, loose], cost: 1 }, 'denied')
        assert.equal(denied.allowed, false)
        assert.equal(denied.index, 0, 'the decision names the window that denied')
        assert.equal((await store.stats()).keys, 2, 'a denied request creates no bucket')
        const after = await agree({ store, reference }, { buckets: [loose], cost: 1 }, 'loose alone')
        assert.equal(after.allowed, true)
        assert.equal(after.remaining, 2, 'the loose window was charged for the two allowed requests only')
      })
    })
  }

  await t.test(`${name}: reset forgets one bucket, clear forgets all`, async () => {
    await withStore(async (store) => {
      const a = bucket('reset:a', 'sliding-window', 2, MINUTE)
      const b = bucket('reset:b', 'gcra', 2, MINUTE)
      for (const buckets of [[a], [a], [b], [b]]) assert.equal((await store.consume(buckets, 1)).allowed, true)
      assert.equal((await store.consume([a], 1)).allowed, false)
      await store.reset(a.key)
      await store.reset('reset:never-used')
      const again = await store.consume([a], 1)
      assert.equal(again.allowed, true)
      assert.equal(again.remaining, 1, 'a reset bucket starts over')
      assert.equal((await store.consume([b], 1)).allowed, false, 'reset leaves other buckets alone')
      await store.clear()
      assert.equal((await store.stats()).keys, 0)
      assert.equal((await store.consume([b], 1)).remaining, 1, 'clear forgets every bucket')
    })
  })

  await t.test(`${name}: stats() counts buckets in keys, and close() can be called twice`, async () => {
    const clock = new ManualClock()
    const store = await makeStore(clock.read)
    const empty = await store.stats()
    assert.equal(empty.keys, 0)
    for (const key of ['stats:a', 'stats:b', 'stats:c']) await store.consume([bucket(key, 'fixed-window', 5, MINUTE)], 1)
    await store.consume([bucket('stats:a', 'fixed-window', 5, MINUTE)], 1)
    const stats = await store.stats()
    assert.equal(typeof stats, 'object')
    assert.ok(Number.isInteger(stats.keys), 'keys is an integer')
    assert.equal(stats.keys, 3)
    await store.close()
    await store.close()
  })

  for (const algorithm of algorithmNames) {
    await t.test(`${name}: ${algorithm}: parallel consumes never pass the limit`, async () => {
      await withStore(async (store) => {
        const limit = 37
        const buckets = [bucket('parallel:a', algorithm, limit, DAY), bucket('parallel:b', algorithm, 50, DAY)]
        const decisions = await Promise.all(Array.from({ length: 100 }, async () => store.consume(buckets, 1)))
        assert.equal(decisions.filter((d) => d.allowed).length, limit)
        const b = await store.consume([buckets[1]], 1)
        assert.equal(b.remaining, 50 - limit - 1, 'the second window was charged once per allowed request')
      })
    })
  }

  await t.test(`${name}: clear(prefix) forgets only the buckets under the prefix`, async () => {
    await withStore(async (store) => {
      const keys = ['a:{x}:1', 'a:{y}:1', 'b:{x}:1', '{x}:1', 'a:b:{x}:1', 'a*:{x}:1', 'ab:{x}:1']
      for (const key of keys) await store.consume([bucket(key, 'fixed-window', 5, MINUTE)], 1)
      const left = async (): Promise<string[]> => {
        const held: string[] = []
        for (const key of keys) {
          // a bucket still held has been charged once: 3 remain after this second charge
          const d = await store.consume([bucket(key, 'fixed-window', 5, MINUTE)], 1)
          if (d.remaining === 3) held.push(key)
          await store.reset(key)
          await store.consume([bucket(key, 'fixed-window', 5, MINUTE)], 1)
          if (d.remaining !== 3) await store.reset(key)
        }
        return held
      }
      await store.clear('a:{')
      assert.deepEqual(await left(), ['b:{x}:1', '{x}:1', 'a:b:{x}:1', 'a*:{x}:1', 'ab:{x}:1'], "clear('a:{')")
      await store.clear('a*:{')
      assert.deepEqual(await left(), ['b:{x}:1', '{x}:1', 'a:b:{x}:1', 'ab:{x}:1'], 'a glob character in the prefix is only itself')
      await store.clear('{')
      assert.deepEqual(await left(), ['b:{x}:1', 'a:b:{x}:1', 'ab:{x}:1'], "clear('{'): the buckets of an empty key prefix")
      assert.equal((await store.stats()).keys, 3)
      await store.clear('')
      assert.equal((await store.stats()).keys, 0, "clear('') forgets all")
    })
  })

  if (refunds) await refundCases()
  await chargeCases()
  await slotCases()
  await banCases()

  async function banCases (): Promise<void> {
    const probe = await makeStore(new ManualClock().read)
    const has = typeof probe.strike === 'function'
    await probe.close()
    if (!(options.bans ?? has)) return
    type Striking = S & Required<Pick<Store, 'strike'>>
    const rule: BanRule = { after: 3, forMs: 10_000, backoffMilli: 2000, maxMs: 25_000, windowMs: MINUTE }
    const gated = (id: string): StoreBucket[] => [
      { key: `{${id}}:ban`, algorithm: banGateAlgorithm, params: { limit: 2, windowMs: MINUTE, burst: 2 } },
      // a rate that never denies here: any denial is the gate's
      bucket(`{${id}}:fw`, 'fixed-window', 1_000_000, MINUTE)
    ]

    await t.test(`${name}: strike counts denials and starts one ban at the after-th; the gate denies until it ends`, async () => {
      await withStore(async (raw, clock) => {
        const store = raw as Striking
        const start = clock.now
        const buckets = gated('ban:a')
        assert.equal((await store.consume(buckets, 1, start)).allowed, true, 'a clean identity passes the gate')
        assert.deepEqual(await store.strike('{ban:a}:ban', rule, start + 1), { until: 0, started: false }, 'strike 1')
        assert.deepEqual(await store.strike('{ban:a}:ban', rule, start + 2), { until: 0, started: false }, 'strike 2')
        const until = start + 3 + 10_000
        assert.deepEqual(await store.strike('{ban:a}:ban', rule, start + 3), { until, started: true }, 'strike 3 starts the ban')
        assert.deepEqual(await store.strike('{ban:a}:ban', rule, start + 4), { until, started: false }, 'while banned: nothing changes')
        const d = await store.consume(buckets, 1, start + 5)
        assert.deepEqual([d.allowed, d.index, d.retryAfterMs, d.resetMs], [false, 0, until - start - 5, until], 'the gate denies, first')
        assert.equal((await store.consume(buckets, 1, until)).allowed, true, 'the ban is over at until')
        assert.equal((await store.consume(gated('ban:b'), 1, start + 5)).allowed, true, 'another identity is not banned')
      })
    })

    await t.test(`${name}: strikes of one identity at once start exactly one ban`, async () => {
      await withStore(async (raw, clock) => {
        const store = raw as Striking
        const at = supportsInjectedClock ? clock.now : undefined
        const strikes = await Promise.all(Array.from({ length: 30 }, async () => await store.strike('{ban:parallel}:ban', rule, at)))
        assert.equal(strikes.filter((s) => s.started).length, 1, 'one started')
        const until = strikes.find((s) => s.started)?.until
        assert.equal(strikes.filter((s) => s.until === until).length, 28, 'the strikes from the third on all see the ban')
      })
    })

    await t.test(`${name}: with extend, a strike during a ban starts it again, as the same ban; the gate denies until the new end`, async () => {
      await withStore(async (raw, clock) => {
        const store = raw as Striking
        const extend: BanRule = { ...rule, after: 1, extend: true }
        const start = clock.now
        const buckets = gated('ban:x')
        assert.deepEqual(await store.strike('{ban:x}:ban', extend, start), { until: start + 10_000, started: true }, 'the first strike starts the ban')
        assert.deepEqual(await store.strike('{ban:x}:ban', extend, start + 6_000), { until: start + 16_000, started: false }, 'a strike during it: 10 s from now, not a new ban')
        assert.deepEqual(await store.strike('{ban:x}:ban', extend, start + 12_000), { until: start + 22_000, started: false }, 'again: the level stays, no backoff')
        const d = await store.consume(buckets, 1, start + 21_999)
        assert.deepEqual([d.allowed, d.index, d.retryAfterMs, d.resetMs], [false, 0, 1, start + 22_000], 'the gate denies until the new end')
        assert.equal((await store.consume(buckets, 1, start + 22_000)).allowed, true, 'and no longer')
        assert.deepEqual(await store.strike('{ban:x}:ban', extend, start + 22_000), { until: start + 42_000, started: true }, 'the next ban: backoff 2, once')
        assert.deepEqual(await store.strike('{ban:x}:ban', rule, start + 30_000), { until: start + 42_000, started: false }, 'a strike without extend changes nothing')
      })
    })

    await t.test(`${name}: strikes of one identity at once with extend start exactly one ban`, async () => {
      await withStore(async (raw, clock) => {
        const store = raw as Striking
        const at = supportsInjectedClock ? clock.now : undefined
        const strikes = await Promise.all(Array.from({ length: 30 }, async () => await store.strike('{ban:extended}:ban', { ...rule, extend: true }, at)))
        assert.equal(strikes.filter((s) => s.started).length, 1, 'one started')
        assert.equal(strikes.filter((s) => s.until > 0).length, 28, 'the strikes from the third on are banned')
      })
    })

    await t.test(`${name}: a strike is kept for the longest window of the identity's rates: a later denial by it still counts`, async () => {
      await withStore(async (raw, clock) => {
        const store = raw as Striking
        // ip ['1/s', '2/2s']: a strike by the 1 s rate, then one by the 2 s rate 1000 ms later
        const short: BanRule = { ...rule, after: 2, windowMs: 1000, longestWindowMs: 2000 }
        const start = clock.now
        assert.deepEqual(await store.strike('{ban:long}:ban', short, start), { until: 0, started: false }, 'strike 1, by the 1 s rate')
        assert.deepEqual(await store.strike('{ban:long}:ban', { ...short, windowMs: 2000 }, start + 1000), { until: start + 11_000, started: true },
          'strike 2, by the 2 s rate within its window: the ban')
        await store.strike('{ban:short}:ban', short, start)
        assert.deepEqual(await store.strike('{ban:short}:ban', short, start + 1000), { until: 0, started: false }, 'by the 1 s rate a window apart: started over')
      })
    })

    await t.test(`${name}: strikes decide as the pure banStrike, and the gate writes nothing`, async () => {
      await withStore(async (raw, clock) => {
        const store = raw as Striking
        const rand = random(seed)
        // the model keeps the state forever: a store may drop it when it expires, never sooner
        let state: BanState | undefined
        let now = clock.now
        for (let i = 0; i < 200; i++) {
          now += rand(4) === 0 ? rand(40_000) : rand(3_000)
          const windowMs = rand(2) === 0 ? MINUTE : 5_000
          const r = { ...rule, windowMs, longestWindowMs: MINUTE, extend: rand(2) === 0 }
          const expected = banStrike(state, now, r)
          if (expected.state !== undefined) state = expected.state
          assert.deepEqual(await store.strike('{ban:random}:ban', r, now), { until: expected.until, started: expected.started }, `${name}: strike ${i} (seed ${seed})`)
          const d = await store.consume(gated('ban:random'), 1, now)
          const banned = state !== undefined && now < state.u
          assert.equal(!d.allowed && d.index === 0, banned, `${name}: the gate at strike ${i} (seed ${seed})`)
        }
      })
    })

    await t.test(`${name}: reset and clear(prefix) forget a ban`, async () => {
      await withStore(async (raw, clock) => {
        const store = raw as Striking
        const one = { ...rule, after: 1 }
        await store.strike('p:{ban:r}:ban', one, clock.now)
        await store.reset('p:{ban:r}:ban')
        assert.equal((await store.strike('p:{ban:r}:ban', one, clock.now + 1)).started, true, 'forgotten by reset: a new ban')
        await store.clear('p:{')
        assert.equal((await store.strike('p:{ban:r}:ban', one, clock.now + 2)).started, true, 'forgotten by clear(prefix)')
      })
    })
  }

  async function chargeCases (): Promise<void> {
    const probe = await makeStore(new ManualClock().read)
    const has = typeof probe.charge === 'function'
    await probe.close()
    if (!(options.charges ?? has)) return
    /** The store, with `charge`, which it must have when the charge cases run. */
    const charging = (store: S): S & Required<Pick<Store, 'charge'>> => {
      assert.equal(typeof store.charge, 'function', `${name}: charge() is missing (pass charges: false for a store without it)`)
      return store as S & Required<Pick<Store, 'charge'>>
    }

    for (const algorithm of algorithmNames) {
      await t.test(`${name}: ${algorithm}: a charge takes every window past its limit at once; the debt denies until paid back, exactly`, async () => {
        await withStore(async (raw, clock) => {
          const store = charging(raw)
          const reference = new Reference()
          // the times are passed in, so this holds on a store on its own clock too
          const start = clock.now
          const a = withBurst('charge:a', algorithm, { limit: 3, windowMs: MINUTE, burst: 4 })
          const b = bucket('charge:b', algorithm, 5, 10_000)
          await agree({ store, reference }, { buckets: [a, b], cost: 2, now: start }, 'before the charge')
          await store.charge([a, b], 7, start + 1)
          reference.charge([a, b], 7, start + 1)
          const denied = await agree({ store, reference }, { buckets: [a, b], cost: 1, now: start + 2 }, 'in debt')
          assert.equal(denied.allowed, false, 'a bucket in debt denies')
          assert.equal(denied.remaining, 0, 'and has none remaining')
          const paid = start + 2 + denied.retryAfterMs
          assert.equal((await agree({ store, reference }, { buckets: [a, b], cost: 1, now: paid - 1 }, '1 ms early')).allowed, false)
          assert.equal((await agree({ store, reference }, { buckets: [a, b], cost: 1, now: paid }, 'paid back')).allowed, true, 'allowed at retryAfterMs')
        })
      })

      await t.test(`${name}: ${algorithm}: charges in parallel with consumes lose no update`, async () => {
        await withStore(async (raw) => {
          const store = charging(raw)
          const buckets = [bucket('parallel-charge:a', algorithm, 100, DAY), bucket('parallel-charge:b', algorithm, 100, DAY)]
          await Promise.all([
            ...Array.from({ length: 20 }, async () => store.charge(buckets, 3)),
            ...Array.from({ length: 10 }, async () => store.consume([buckets[1]], 1))
          ])
          assert.equal((await store.consume([buckets[0]], 1)).remaining, 100 - 60 - 1, 'every charge of the first window counted')
          assert.equal((await store.consume([buckets[1]], 1)).remaining, 100 - 70 - 1, 'every charge and consume of the second')
        })
      })
    }

    await t.test(`${name}: a key with no state is charged from empty; a ban's gate is never charged`, async () => {
      await withStore(async (raw, clock) => {
        const store = charging(raw)
        const reference = new Reference()
        const gate: StoreBucket = { key: '{charge:g}:ban', algorithm: banGateAlgorithm, params: { limit: 3, windowMs: MINUTE, burst: 3 } }
        const rate = bucket('{charge:g}:sw', 'sliding-window', 3, MINUTE)
        await store.charge([gate, rate], 2, clock.now)
        reference.charge([gate, rate], 2, clock.now)
        assert.equal((await store.stats()).keys, 1, 'one key: the rate\'s, none for the gate')
        const d = await agree({ store, reference }, { buckets: [rate], cost: 1, now: clock.now }, 'after a charge from empty')
        assert.deepEqual([d.allowed, d.remaining], [true, 0], 'charged 2 of 3 from empty')
        await store.charge([gate], 5, clock.now)
        assert.equal((await store.stats()).keys, 1, 'a gate alone: nothing charged')
      })
    })

    if (!supportsInjectedClock) return

    for (const algorithm of algorithmNames) {
      await t.test(`${name}: ${algorithm}: charges, consumes, refunds and peeks decide as the pure reference on random sequences`, async () => {
        await randomRuns(algorithm, 61, 'charges', ({ store: raw, clock, rand, reference }) => {
          const store = charging(raw)
          return async ({ now, chosen, where }) => {
            const burst = Math.min(...chosen.map((b) => b.params.burst))
            const op = rand(refunds ? 4 : 2)
            if (op === 0) {
              // a settled cost: up to three bursts, or now and then far past the bound
              const cost = rand(20) === 0 ? Number.MAX_SAFE_INTEGER : 1 + rand(3 * burst)
              await store.charge(chosen, cost, now)
              reference.charge(chosen, cost, clock.now)
            } else if (op === 1) {
              await agree({ store, reference }, { buckets: chosen, cost: 1 + rand(burst), now }, where)
            } else if (op === 2) {
              const cost = 1 + rand(3 * burst)
              await (store as unknown as Refunding).refund(chosen, cost, now)
              reference.refund(chosen, cost, clock.now)
            } else {
              const cost = 1 + rand(burst)
              assert.deepEqual(decisionOf(await (store as unknown as Refunding).peek(chosen, cost, now)), reference.peek(chosen, cost, clock.now), `${name}: peek, ${where}`)
            }
          }
        })
      })
    }
  }

  async function slotCases (): Promise<void> {
    const probe = await makeStore(new ManualClock().read)
    const has = typeof probe.acquire === 'function' && typeof probe.release === 'function'
    await probe.close()
    if (!(options.slots ?? has)) return
    type Slotted = S & Required<Pick<Store, 'acquire' | 'release'>>
    const at = (clock: ManualClock) => supportsInjectedClock ? clock.now : undefined

    await t.test(`${name}: acquire holds at most limit slots per key; release gives one back, once`, async () => {
      await withStore(async (raw, clock) => {
        const store = raw as Slotted
        await store.release('slots:never', 'no-such-token') // before any acquire
        const first = await store.acquire('slots:a', 2, MINUTE, at(clock))
        const second = await store.acquire('slots:a', 2, MINUTE, at(clock))
        assert.deepEqual([first.allowed, first.inFlight, second.allowed, second.inFlight], [true, 1, true, 2])
        assert.ok(first.token !== '' && second.token !== '' && first.token !== second.token, 'distinct tokens')
        assert.deepEqual(await store.acquire('slots:a', 2, MINUTE, at(clock)), { allowed: false, inFlight: 2, token: '' }, 'full')
        const other = await store.acquire('slots:b', 2, MINUTE, at(clock))
        assert.deepEqual([other.allowed, other.inFlight], [true, 1], 'another key has its own slots')
        await store.release('slots:a', first.token)
        await store.release('slots:a', first.token)
        await store.release('slots:a', 'no-such-token')
        await store.release('slots:never', 'no-such-token')
        const third = await store.acquire('slots:a', 2, MINUTE, at(clock))
        assert.deepEqual([third.allowed, third.inFlight], [true, 2], 'one slot back, however often it was released')
        assert.equal((await store.acquire('slots:a', 2, MINUTE, at(clock))).allowed, false)
        await store.release('slots:a', second.token)
        await store.release('slots:a', third.token)
        assert.equal((await store.acquire('slots:a', 2, MINUTE, at(clock))).inFlight, 1, 'all given back')
      })
    })

    await t.test(`${name}: parallel acquires never hold more than the limit`, async () => {
      await withStore(async (raw) => {
        const store = raw as Slotted
        // no `now`: the store decides on its own clock (the suite's, when it takes one)
        const grants = await Promise.all(Array.from({ length: 30 }, async () => await store.acquire('slots:parallel', 7, MINUTE)))
        assert.equal(grants.filter((g) => g.allowed).length, 7)
        assert.equal(new Set(grants.filter((g) => g.allowed).map((g) => g.token)).size, 7)
        assert.ok(grants.every((g) => g.allowed ? g.inFlight >= 1 && g.inFlight <= 7 : g.inFlight === 7 && g.token === ''))
      })
    })

    if (options.leases === false) return
    await t.test(`${name}: a slot is a lease: it expires leaseMs after it was taken`, async () => {
      await withStore(async (raw, clock) => {
        const store = raw as Slotted
        // the times are passed in, so this holds on a store on its own clock too
        const start = clock.now
        await store.acquire('slots:lease', 2, 1000, start)
        await store.acquire('slots:lease', 2, 1000, start + 500)
        assert.equal((await store.acquire('slots:lease', 2, 1000, start + 999)).allowed, false, 'both live 1 ms before the first expires')
        const after = await store.acquire('slots:lease', 2, 1000, start + 1000)
        assert.deepEqual([after.allowed, after.inFlight], [true, 2], 'the first expired: its slot is free again')
        const later = await store.acquire('slots:lease', 2, 1000, start + 5000)
        assert.deepEqual([later.allowed, later.inFlight], [true, 1], 'every old lease expired')
      })
    })
  }

  async function refundCases (): Promise<void> {
    /** The store, with the optional methods it must have when `refunds` is true. */
    const refunding = (store: S): Refunding => {
      assert.equal(typeof store.refund, 'function', `${name}: refund() is missing (pass refunds: false for a store without it)`)
      assert.equal(typeof store.peek, 'function', `${name}: peek() is missing (pass refunds: false for a store without it)`)
      return store as Refunding
    }

    for (const algorithm of algorithmNames) {
      await t.test(`${name}: ${algorithm}: a refund gives back every window's charge at once, and empties them`, async () => {
        await withStore(async (raw) => {
          const store = refunding(raw)
          const a = bucket('refund:a', algorithm, 3, DAY)
          const b = bucket('refund:b', algorithm, 5, DAY)
          assert.equal((await store.consume([a, b], 2)).allowed, true)
          await store.refund([a, b], 2)
          assert.equal((await store.stats()).keys, 0, 'an empty bucket is no state')
          assert.equal((await store.peek([a], 1)).remaining, 2, 'the first window is as new')
          assert.equal((await store.peek([b], 1)).remaining, 4, 'the second window is as new')
          await store.refund([a, b], 7)
          assert.equal((await store.stats()).keys, 0, 'a refund of an empty bucket leaves it empty')
          assert.equal((await store.peek([b], 5)).remaining, 0, 'and never below empty: 5 free, not more')
          assert.equal((await store.peek([b], 5)).allowed, true)
          await store.consume([a], 3)
          await store.refund([a], 1)
          const d = await store.peek([a], 1)
          assert.equal(d.allowed, true, 'a partial refund gives back only what it says')
          assert.equal(d.remaining, 0)
        })
      })

      await t.test(`${name}: ${algorithm}: peek decides as consume would, and writes nothing`, async () => {
        await withStore(async (raw) => {
          const store = refunding(raw)
          const buckets = [bucket('peek:a', algorithm, 3, DAY), bucket('peek:b', algorithm, 2, DAY)]
          assert.equal((await store.peek(buckets)).remaining, 1, 'cost defaults to 1')
          assert.equal((await store.stats()).keys, 0, 'a peek creates no bucket')
          for (let i = 0; i < 4; i++) {
            const peeked = decisionOf(await store.peek(buckets, 1))
            const consumed = decisionOf(await store.consume(buckets, 1))
            if (supportsInjectedClock) {
              assert.deepEqual(peeked, consumed, `request ${i}`)
            } else {
              assert.deepEqual([peeked.allowed, peeked.remaining, peeked.index], [consumed.allowed, consumed.remaining, consumed.index], `request ${i}`)
            }
          }
          assert.equal((await store.stats()).keys, 2)
        })
      })

      await t.test(`${name}: ${algorithm}: refunds in parallel with consumes lose no update`, async () => {
        await withStore(async (raw) => {
          const store = refunding(raw)
          const limit = 37
          const buckets = [bucket('parallel-refund:a', algorithm, limit, DAY), bucket('parallel-refund:b', algorithm, 60, DAY)]
          for (let i = 0; i < limit; i++) assert.equal((await store.consume(buckets, 1)).allowed, true)
          await Promise.all([
            ...Array.from({ length: 20 }, async () => store.refund(buckets, 1)),
            ...Array.from({ length: 10 }, async () => store.consume([buckets[1]], 1))
          ])
          assert.equal((await store.peek([buckets[0]], 1)).remaining, limit - 17 - 1, 'every refund of the first window counted')
          assert.equal((await store.peek([buckets[1]], 1)).remaining, 60 - 27 - 1, 'every refund and consume of the second')
        })
      })
    }

    if (!supportsInjectedClock) return

    for (const algorithm of algorithmNames) {
      await t.test(`${name}: ${algorithm}: refunds and peeks decide as the pure reference on random sequences`, async () => {
        await randomRuns(algorithm, 31, 'refunds', ({ store: raw, clock, rand, reference }) => {
          const store = refunding(raw)
          const charged: Array<[StoreBucket[], number]> = []
          return async ({ now, chosen, where }) => {
            const cost = 1 + rand(Math.min(...chosen.map((b) => b.params.burst)))
            const op = rand(3)
            if (op === 0 && charged.length > 0) {
              // the refund of an earlier charge, most often the latest
              const [buckets, c] = charged.splice(rand(2) === 0 ? charged.length - 1 : rand(charged.length), 1)[0]
              await store.refund(buckets, c, now)
              reference.refund(buckets, c, clock.now)
            } else if (op === 1) {
              assert.deepEqual(decisionOf(await store.peek(chosen, cost, now)), reference.peek(chosen, cost, clock.now), `${name}: peek, ${where}`)
            } else {
              const d = await agree({ store: raw, reference }, { buckets: chosen, cost, now }, where)
              if (d.allowed) charged.push([chosen, cost])
            }
          }
        })
      })
    }
  }

  if (!supportsInjectedClock) return

  for (const algorithm of algorithmNames) {
    await t.test(`${name}: ${algorithm}: state expires after its ttl`, async () => {
      await withStore(async (store, clock) => {
        const params: AlgorithmParams = bucket('', algorithm, 3, MINUTE).params
        const fresh = (key: string) => bucket(key, algorithm, params.limit, params.windowMs)
        const ttl = algorithms[algorithm].consume(undefined, clock.now, 1, params).ttlMs
        const start = clock.now
        await store.consume([fresh('ttl:swept')], 1)
        await store.consume([fresh('ttl:read')], 1)
        clock.now = start + ttl - 1
        await cleanup(store)
        assert.equal((await store.stats()).keys, 2, 'nothing expires before its ttl')
        clock.now = start + ttl
        const asNew = algorithms[algorithm].consume(undefined, clock.now, 1, params).decision
        const read = decisionOf(await store.consume([fresh('ttl:read')], 1))
        assert.deepEqual(read, { ...asNew, index: 0, now: clock.now }, 'an expired bucket reads as new, swept or not')
        await cleanup(store)
        assert.equal((await store.stats()).keys, 1, 'cleanup removes the expired bucket')
      })
    })

    await t.test(`${name}: ${algorithm}: retryAfterMs is exact`, async () => {
      await withStore(async (store, clock) => {
        const buckets = [withBurst('retry:a', algorithm, { limit: 3, windowMs: MINUTE, burst: 4 }), bucket('retry:b', algorithm, 2, 10_000)]
        let denied: StoreDecision | undefined
        while (denied === undefined) {
          const d = await store.consume(buckets, 1)
          if (!d.allowed) denied = d
          clock.now += 700
        }
        clock.now = denied.now + denied.retryAfterMs - 1
        assert.equal((await store.consume(buckets, 1)).allowed, false, '1 ms early is still denied')
        clock.now += 1
        assert.equal((await store.consume(buckets, 1)).allowed, true, 'retryAfterMs later is allowed')
      })
    })
  }
}
