import t from 'tap'
import { setImmediate as tick } from 'node:timers/promises'
import { evaluate } from '../../index.js'
import type { BanRule, BanStrike, Store, StoreBucket, StoreDecision } from '../../index.js'
import { banStrike } from '../../algorithms/ban.js'
import type { BanState } from '../../algorithms/ban.js'
import { storeConformance } from '../../stores/conformance.js'
import { missingOptionalMethods } from '../../stores/store.js'
import { MemoryStore } from '../../stores/memory.js'
import type { ConformanceTest } from '../../stores/conformance.js'

// The suite must catch a broken store: each flaw below is a mistake a real store could make,
// and the suite, run against a store with that flaw, must fail the case that names it.

type Flaw = 'none' | 'charges-passed-windows' | 'never-expires' | 'reset-does-nothing' | 'read-then-write' |
  'clear-ignores-prefix' | 'refund-read-then-write' | 'peek-charges' | 'refund-keeps-empty' |
  'charge-read-then-write' | 'charge-charges-gates' | 'charge-skips-missing' | 'charge-stops-at-limit' | 'strike-drops-extend' |
  'strike-drops-longest-window'

class MapStore implements Store {
  #map = new Map<string, { state: unknown, expiresAt: number }>()
  constructor (readonly clock: () => number, readonly flaw: Flaw) {}

  async consume (buckets: readonly StoreBucket[], cost: number, now = this.clock()): Promise<StoreDecision> {
    const current = buckets.map(({ key }) => {
      const entry = this.#map.get(key)
      return entry !== undefined && (entry.expiresAt > now || this.flaw === 'never-expires') ? entry.state : undefined
    })
    // a store that reads, waits for its backend, then writes, without a transaction
    if (this.flaw === 'read-then-write') await tick()
    const { decision, states, ttls } = evaluate(buckets, current, cost, now)
    buckets.forEach(({ key, algorithm, params }, i) => {
      // rate-limiter-flexible's union: every window that passed is charged, even when another denied
      const passed = this.flaw === 'charges-passed-windows' && algorithm.consume(current[i], now, cost, params).decision.allowed
      // a ban's gate is read, never written
      if ((decision.allowed || passed) && algorithm.gate !== true) this.#map.set(key, { state: states[i], expiresAt: now + ttls[i] })
    })
    return decision
  }

  reset (key: string): void {
    if (this.flaw !== 'reset-does-nothing') this.#map.delete(key)
  }

  clear (prefix = ''): void {
    for (const key of this.#map.keys()) {
      if (key.startsWith(prefix) || this.flaw === 'clear-ignores-prefix') this.#map.delete(key)
    }
  }

  #current (buckets: readonly StoreBucket[], now: number): unknown[] {
    return buckets.map(({ key }) => {
      const entry = this.#map.get(key)
      return entry !== undefined && entry.expiresAt > now ? entry.state : undefined
    })
  }

  async refund (buckets: readonly StoreBucket[], cost: number, now = this.clock()): Promise<void> {
    const current = this.#current(buckets, now)
    if (this.flaw === 'refund-read-then-write') await tick()
    buckets.forEach(({ key, algorithm, params }, i) => {
      const { state, ttlMs } = algorithm.refund(current[i], now, cost, params)
      // an empty bucket kept as a state of its own: harmless to decisions, but a key nobody needs
      if (state === undefined && this.flaw !== 'refund-keeps-empty') this.#map.delete(key)
      else this.#map.set(key, { state, expiresAt: now + ttlMs })
    })
  }

  async charge (buckets: readonly StoreBucket[], cost: number, now = this.clock()): Promise<void> {
    const current = this.#current(buckets, now)
    if (this.flaw === 'charge-read-then-write') await tick()
    buckets.forEach(({ key, algorithm, params }, i) => {
      if (algorithm.gate === true && this.flaw !== 'charge-charges-gates') return
      if (current[i] === undefined && this.flaw === 'charge-skips-missing') return
      // a charge that is only a consume: nothing past the limit, no debt
      const { state, ttlMs } = this.flaw === 'charge-stops-at-limit'
        ? algorithm.consume(current[i], now, Math.min(cost, params.burst), params)
        : algorithm.charge(current[i], now, cost, params)
      this.#map.set(key, { state, expiresAt: now + ttlMs })
    })
  }

  async peek (buckets: readonly StoreBucket[], cost = 1, now = this.clock()): Promise<StoreDecision> {
    if (this.flaw === 'peek-charges') return await this.consume(buckets, cost, now)
    return evaluate(buckets, this.#current(buckets, now), cost, now).decision
  }

  async strike (key: string, rule: BanRule, now = this.clock()): Promise<BanStrike> {
    const [current] = this.#current([{ key }] as StoreBucket[], now) as [BanState | undefined]
    // a store that sends the rule field by field, and was not told of the newest
    const sent: BanRule = this.flaw === 'strike-drops-extend'
      ? { after: rule.after, forMs: rule.forMs, backoffMilli: rule.backoffMilli, maxMs: rule.maxMs, windowMs: rule.windowMs }
      : this.flaw === 'strike-drops-longest-window' ? { ...rule, longestWindowMs: undefined } : rule
    const { state, ttlMs, until, started } = banStrike(current, now, sent)
    if (state !== undefined) this.#map.set(key, { state, expiresAt: now + ttlMs })
    return { until, started }
  }

  sweep (): void {
    for (const [key, entry] of this.#map) {
      if (entry.expiresAt <= this.clock() && this.flaw !== 'never-expires') this.#map.delete(key)
    }
  }

  stats () {
    return { keys: this.#map.size }
  }

  close (): void {}
}

/** Runs the suite against a store with `flaw`; returns the names of the cases that failed. */
async function failedCases (flaw: Flaw): Promise<string[]> {
  const failed: string[] = []
  const recorder: ConformanceTest = {
    async test (name, fn) {
      try {
        await fn(undefined)
      } catch {
        failed.push(name.replace(/^MapStore: /, ''))
      }
    }
  }
  await storeConformance(recorder, { name: 'MapStore', makeStore: (clock) => new MapStore(clock, flaw), runs: 10 })
  return failed
}

t.test('a correct store passes every case', async (t) => {
  t.same(await failedCases('none'), [])
})

const caught: Array<[Flaw, string[]]> = [
  // rate-limiter-flexible's union charges the windows that passed: caught
  ['charges-passed-windows', ['gcra: a request denied by one window charges none', 'sliding-window decides as the pure reference on random sequences']],
  ['never-expires', ['token-bucket: state expires after its ttl']],
  ['reset-does-nothing', ['reset forgets one bucket, clear forgets all', 'fixed-window decides as the pure reference on random sequences']],
  ['strike-drops-longest-window', [
    "a strike is kept for the longest window of the identity's rates: a later denial by it still counts",
    'strikes decide as the pure banStrike, and the gate writes nothing'
  ]]
]
for (const [flaw, cases] of caught) {
  t.test(`a store that ${flaw.replaceAll('-', ' ')} fails the cases that check it`, async (t) => {
    const failed = await failedCases(flaw)
    for (const name of cases) t.ok(failed.includes(name), `${name} (failed: ${failed.join('; ')})`)
  })
}

const caughtToo: Array<[Flaw, string]> = [
  ['clear-ignores-prefix', 'clear(prefix) forgets only the buckets under the prefix'],
  ['peek-charges', 'sliding-log: peek decides as consume would, and writes nothing'],
  ['refund-keeps-empty', 'leaky-bucket: a refund gives back every window\'s charge at once, and empties them'],
  ['refund-read-then-write', 'gcra: refunds in parallel with consumes lose no update'],
  ['charge-read-then-write', 'token-bucket: charges in parallel with consumes lose no update'],
  ['charge-charges-gates', 'a key with no state is charged from empty; a ban\'s gate is never charged'],
  ['charge-skips-missing', 'a key with no state is charged from empty; a ban\'s gate is never charged'],
  ['charge-stops-at-limit', 'fixed-window: a charge takes every window past its limit at once; the debt denies until paid back, exactly'],
  ['strike-drops-extend', 'with extend, a strike during a ban starts it again, as the same ban; the gate denies until the new end']
]
for (const [flaw, name] of caughtToo) {
  t.test(`a store that ${flaw.replaceAll('-', ' ')} fails the case that checks it`, async (t) => {
    const failed = await failedCases(flaw)
    t.ok(failed.includes(name), `${name} (failed: ${failed.join('; ')})`)
  })
}

t.test('a store without refund and peek passes with refunds: false, and fails the refund cases without it', async (t) => {
  const failed: string[] = []
  const recorder: ConformanceTest = {
    async test (name, fn) {
      try {
        await fn(undefined)
      } catch {
        failed.push(name)
      }
    }
  }
  const makeStore = (clock: () => number): Store & { sweep (): void } => {
    const store = new MapStore(clock, 'none')
    // only the required methods (and the sweep the suite's cleanup calls), each bound to the store
    return {
      consume: store.consume.bind(store),
      reset: store.reset.bind(store),
      clear: store.clear.bind(store),
      stats: store.stats.bind(store),
      close: store.close.bind(store),
      sweep: store.sweep.bind(store)
    }
  }
  t.same(missingOptionalMethods(makeStore(Date.now)), ['refund', 'peek'], 'missingOptionalMethods names them')
  t.same(missingOptionalMethods(makeStore(Date.now), ['peek']), ['peek'])
  t.same(missingOptionalMethods(makeStore(Date.now), ['charge', 'refund']), ['charge', 'refund'], 'and charge when asked for')
  const memory = new MemoryStore()
  t.teardown(() => memory.close())
  t.same(missingOptionalMethods(memory, ['refund', 'peek', 'charge']), [], 'the built-in stores have them all')
  await storeConformance(recorder, { name: 'plain', makeStore, runs: 2, refunds: false })
  t.same(failed, [])
  await storeConformance(recorder, { name: 'plain', makeStore, runs: 2 })
  t.ok(failed.length >= 18 && failed.every((name) => /refund|peek/.test(name)), failed.join('\n'))
  // the charge cases run for a store that has charge, or when asked for
  failed.length = 0
  await storeConformance(recorder, { name: 'plain', makeStore, runs: 2, refunds: false, charges: true })
  t.ok(failed.length >= 13 && failed.every((name) => /charge/.test(name)), failed.join('\n'))
  // and without refunds, their random sequences charge and consume only
  failed.length = 0
  await storeConformance(recorder, { name: 'charges alone', makeStore: (clock) => new MapStore(clock, 'none'), runs: 2, refunds: false })
  t.same(failed, [])
})

t.test('reading and writing outside one transaction is caught by the parallel case', async (t) => {
  const failed = await failedCases('read-then-write')
  t.same(failed.filter((name) => name.includes('parallel consumes')).length, 6, failed.join('\n'))
})

/** Runs the suite's slot cases against a MapStore with the given acquire and release; returns the failed case names. */
async function failedSlotCases (slots: Pick<Store, 'acquire' | 'release'>, options: { slots?: boolean } = {}): Promise<string[]> {
  const failed: string[] = []
  const recorder: ConformanceTest = {
    async test (name, fn) {
      if (!/acquire|slot/.test(name)) return
      try {
        await fn(undefined)
      } catch {
        failed.push(name.replace(/^Slots: /, ''))
      }
    }
  }
  await storeConformance(recorder, { name: 'Slots', makeStore: (clock) => Object.assign(new MapStore(clock, 'none'), slots), runs: 1, ...options })
  return failed
}

t.test('the slot cases catch a store that counts and then adds outside one transaction, and one without leases', async (t) => {
  const held = new Map<string, Map<string, number>>()
  let next = 0
  const racy: Pick<Store, 'acquire' | 'release'> = {
    async acquire (key, limit, leaseMs, now = 0) {
      const slots = held.get(key) ?? new Map<string, number>()
      held.set(key, slots)
      for (const [token, expires] of slots) if (expires <= now) slots.delete(token)
      const count = slots.size
      await tick() // read, wait for the backend, then write
      if (count >= limit) return { allowed: false, inFlight: count, token: '' }
      const token = String(++next)
      slots.set(token, now + leaseMs)
      return { allowed: true, inFlight: slots.size, token }
    },
    release (key, token) { held.get(key)?.delete(token) }
  }
  t.same(await failedSlotCases(racy), ['parallel acquires never hold more than the limit'])
  const memory = new MemoryStore()
  t.teardown(() => memory.close())
  const noLeases: Pick<Store, 'acquire' | 'release'> = { acquire: memory.acquire.bind(memory), release: memory.release.bind(memory) }
  t.same(await failedSlotCases(noLeases), ['a slot is a lease: it expires leaseMs after it was taken'])
})

t.test('slots: true runs the slot cases for a store without acquire, and they fail', async (t) => {
  t.same((await failedSlotCases({}, { slots: true })).length, 3)
  t.same(await failedSlotCases({}), [], 'by default they run only for a store that has acquire and release')
})
