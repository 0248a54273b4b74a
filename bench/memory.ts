// Heap bytes per key at 1,000,000 keys: the memory store with fixed-window and sliding-window,
// and for comparison the memory stores of @fastify/rate-limit and rate-limiter-flexible.
// Each is measured in a process of its own: heapUsed + arrayBuffers after a full GC, before and after.
// Run: node --expose-gc dist/bench/memory.js [which]     (npm run bench runs it)
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { MemoryStore, algorithms } from '../index.js'
import type { StoreBucket } from '../index.js'
import { ipIdentity } from '../lib/request/identity.js'
import { encodePart, keyHead, keyTail } from '../lib/request/keys.js'

const KEYS = 1_000_000
const which = ['fixed-window', 'sliding-window', '@fastify/rate-limit', 'rate-limiter-flexible'] as const
type Which = typeof which[number]

export interface MemoryResult {
  keys: number
  /** A key as the plugin builds it for the first client. */
  sampleKey: string
  bytesPerKey: Record<Which, number>
}

function ip (n: number): string {
  return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

const gc = (globalThis as { gc?: () => void }).gc as () => void
/** heapUsed plus ArrayBuffer memory, which V8 keeps outside the heap (the store's typed arrays). */
function heap (): number {
  for (let i = 0; i < 3; i++) gc()
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return heapUsed + arrayBuffers
}

/** The bucket the plugin builds for client `n` on `GET /` at 100/min. */
function bucket (name: 'fixed-window' | 'sliding-window', n: number): StoreBucket[] {
  const algorithm = algorithms[name]
  const head = keyHead({ prefix: 'fl', route: 'GET /', kind: 'ip' })
  const tail = keyTail(algorithm.code, 100, 60_000, undefined)
  return [{ key: head + encodePart(ipIdentity(ip(n), 64)) + tail, algorithm, params: { limit: 100, windowMs: 60_000, burst: 100 } }]
}

async function measure (name: Which): Promise<number> {
  const now = Date.now()
  const before = heap()
  let held: unknown
  if (name === 'fixed-window' || name === 'sliding-window') {
    const store = new MemoryStore({ maxKeys: KEYS })
    for (let n = 0; n < KEYS; n++) store.consume(bucket(name, n), 1, now)
    if (store.stats().keys !== KEYS) throw new Error('keys were evicted')
    held = store
  } else if (name === '@fastify/rate-limit') {
    // the plugin's default store, sized to hold every key (its `cache` option)
    const LocalStore = createRequire(import.meta.url)('@fastify/rate-limit/store/LocalStore.js')
    const store = new LocalStore(false, false, KEYS)
    for (let n = 0; n < KEYS; n++) store.incr(ip(n), () => {}, 60_000, 100)
    held = store
  } else {
    const limiter = new RateLimiterMemory({ points: 100, duration: 60 })
    for (let n = 0; n < KEYS; n++) await limiter.consume(ip(n))
    held = limiter
  }
  const after = heap()
  if (held === undefined) throw new Error('unreachable')
  return (after - before) / KEYS
}

const only = process.argv[2] as Which | undefined
if (only !== undefined) {
  process.stdout.write(JSON.stringify(await measure(only)) + '\n')
} else {
  const self = fileURLToPath(import.meta.url)
  const bytesPerKey = Object.fromEntries(which.map((name) => [name,
    JSON.parse(execFileSync(process.execPath, ['--expose-gc', self, name], { encoding: 'utf8' })) as number])) as Record<Which, number>
  const result: MemoryResult = { keys: KEYS, sampleKey: bucket('sliding-window', 0)[0].key, bytesPerKey }
  process.stdout.write(JSON.stringify(result) + '\n')
}
