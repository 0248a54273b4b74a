import t from 'tap'
import fc from 'fast-check'
import { algorithmNames, algorithms } from '../../algorithms/index.js'
import type { Algorithm, AlgorithmName, AlgorithmParams } from '../../algorithms/index.js'
import { MemoryStore } from '../../stores/memory.js'
import { RedisStore } from '../../stores/redis.js'
import type { StoreBucket, StoreDecision } from '../../stores/store.js'
import { extremeParamsArb, paramsArb, scenarioArb as singleWindowArb } from '../algorithms/helpers.js'
import { connect, redisAvailable, startRedis } from './server.js'

// The core proof of the Redis store: on random traffic, the Lua twins running inside a real
// redis-server decide exactly as the TypeScript algorithms in the memory store — every field
// of every decision, for one to three windows per request, at ordinary and extreme rates,
// with clocks that sometimes go backwards (another app server).

/** A window by algorithm name, so that a counterexample prints short. */
interface Window {
  algorithm: AlgorithmName
  params: AlgorithmParams
}

interface Scenario {
  windows: Window[]
  start: number
  requests: Array<{ dt: number, cost: number }>
}

type ParamsArb = (algorithm: Algorithm<any>) => fc.Arbitrary<AlgorithmParams>

/**
 * The algorithm tests' random traffic (with clocks that sometimes go backwards) on a first
 * window of an algorithm from `pool`, plus up to two more windows; costs are cut to the
 * smallest burst, as the plugin guarantees.
 */
function scenarioArb (pool: readonly AlgorithmName[], paramsOf: ParamsArb): fc.Arbitrary<Scenario> {
  const windowArb = fc.constantFrom(...pool).chain((algorithm) => paramsOf(algorithms[algorithm]).map((params) => ({ algorithm, params })))
  return fc.tuple(
    fc.constantFrom(...pool).chain((algorithm) =>
      singleWindowArb(paramsOf(algorithms[algorithm]), { jitter: true }).map((scenario) => ({ algorithm, scenario }))),
    fc.array(windowArb, { maxLength: 2 })
  ).map(([{ algorithm, scenario: { params, start, requests } }, more]) => {
    const windows = [{ algorithm, params }, ...more]
    const burst = Math.min(...windows.map((w) => w.params.burst))
    return { windows, start, requests: requests.map(({ dt, cost }) => ({ dt, cost: Math.min(cost, burst) })) }
  })
}

function fields (d: StoreDecision): string {
  const { allowed, limit, remaining, resetMs, retryAfterMs, index, now } = d
  return JSON.stringify({ allowed, limit, remaining, resetMs, retryAfterMs, index, now })
}

if (redisAvailable(t)) {
  const server = await startRedis(t)
  const store = new RedisStore({ client: connect(t, server.port), keyPrefix: 'agree:' })
  let run = 0

  /** Replays a scenario on a fresh memory store and on fresh Redis keys; throws at the first difference. */
  async function agree ({ windows, start, requests }: Scenario): Promise<void> {
    run++
    const buckets: StoreBucket[] = windows.map(({ algorithm, params }, i) => ({ key: `{${run}}:${i}`, algorithm: algorithms[algorithm], params }))
    const memory = new MemoryStore()
    let now = start
    try {
      for (const [i, { dt, cost }] of requests.entries()) {
        now += dt
        const expected = fields(memory.consume(buckets, cost, now))
        const actual = fields(await store.consume(buckets, cost, now))
        if (actual !== expected) throw new Error(`request ${i}: Redis ${actual}, TypeScript ${expected}`)
      }
    } finally {
      memory.close()
    }
  }

  for (const name of algorithmNames) {
    t.test(`${name}: the Lua twin decides as the TypeScript algorithm`, async (t) => {
      await fc.assert(fc.asyncProperty(scenarioArb([name], paramsArb), agree), { numRuns: 60 })
      t.pass('ordinary rates')
      await fc.assert(fc.asyncProperty(scenarioArb([name], extremeParamsArb), agree), { numRuns: 20 })
      t.pass('rates at the largest the plugin accepts (4 * L * W near 2^53, burst up to 1000 L)')
    })
  }

  t.test('windows of one request with different algorithms run in one script and still agree', async (t) => {
    await fc.assert(fc.asyncProperty(scenarioArb(algorithmNames, paramsArb), agree), { numRuns: 60 })
    t.pass('mixed algorithms')
  })

  t.test('on the server clock, decisions match the TypeScript algorithm at the time Redis reports', async (t) => {
    const memory = new MemoryStore()
    t.teardown(() => memory.close())
    for (const name of algorithmNames) {
      const buckets: StoreBucket[] = [
        { key: `{server-clock}:${name}:a`, algorithm: algorithms[name], params: { limit: 3, windowMs: 1000, burst: 3 } },
        { key: `{server-clock}:${name}:b`, algorithm: algorithms[name], params: { limit: 5, windowMs: 60_000, burst: 5 } }
      ]
      for (let i = 0; i < 6; i++) {
        const actual = await store.consume(buckets, 1)
        t.ok(Math.abs(actual.now - Date.now()) < 5000, 'decided on the server clock, close to ours')
        t.equal(fields(actual), fields(memory.consume(buckets, 1, actual.now)), `${name}, request ${i}`)
      }
    }
  })
}
