import t from 'tap'
import { setImmediate as tick } from 'node:timers/promises'
import { evaluate } from '../index.js'
import type { Store, StoreBucket, StoreDecision } from '../index.js'
import { storeConformance } from '../stores/conformance.js'
import type { ConformanceTest } from '../stores/conformance.js'

// The suite must catch a broken store: each flaw below is a mistake a real store could make,
// and the suite, run against a store with that flaw, must fail the case that names it.

type Flaw = 'none' | 'charges-passed-windows' | 'never-expires' | 'reset-does-nothing' | 'read-then-write'

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
      if (decision.allowed || passed) this.#map.set(key, { state: states[i], expiresAt: now + ttls[i] })
    })
    return decision
  }

  reset (key: string): void {
    if (this.flaw !== 'reset-does-nothing') this.#map.delete(key)
  }

  clear (): void {
    this.#map.clear()
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
  ['reset-does-nothing', ['reset forgets one bucket, clear forgets all', 'fixed-window decides as the pure reference on random sequences']]
]
for (const [flaw, cases] of caught) {
  t.test(`a store that ${flaw.replaceAll('-', ' ')} fails the cases that check it`, async (t) => {
    const failed = await failedCases(flaw)
    for (const name of cases) t.ok(failed.includes(name), `${name} (failed: ${failed.join('; ')})`)
  })
}

t.test('reading and writing outside one transaction is caught by the parallel case', async (t) => {
  const failed = await failedCases('read-then-write')
  t.same(failed.filter((name) => name.includes('parallel')).length, 6, failed.join('\n'))
})
