// Decisions per second and consume latency of the memory and SQLite stores, in one process,
// for the default sliding-window algorithm, one call at a time: the SQLite store with batch:
// false, one transaction per call (its default group commit shares one among the calls of a
// turn, which the HTTP benchmark measures). Run: npx tsx bench/stores.ts
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryStore, SqliteStore, algorithms } from '../index.js'
import type { Store, StoreBucket } from '../index.js'
import { summarize } from './latency.js'

const KEYS = 10_000
const params = { limit: 100, windowMs: 60_000, burst: 100 }
const buckets: StoreBucket[][] = Array.from({ length: KEYS }, (_, i) =>
  [{ key: `fl:bench:ip:10.0.${i >> 8}.${i & 255}:sw:100/60000`, algorithm: algorithms['sliding-window'], params }])

/** `calls` consumes over KEYS identities, timed as a whole and one by one. */
function measure (store: Store, calls: number) {
  const start = Date.now()
  // warm up: every key exists, statements and JIT are hot
  for (let i = 0; i < KEYS; i++) store.consume(buckets[i], 1, start)
  const latencies = new Float64Array(calls)
  let allowed = 0
  const began = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint()
    // the clock moves 1 ms per call so windows roll as in real traffic
    if ((store.consume(buckets[i % KEYS], 1, start + i) as { allowed: boolean }).allowed) allowed++
    latencies[i] = Number(process.hrtime.bigint() - t0) / 1000
  }
  return summarize(latencies, Number(process.hrtime.bigint() - began) / 1e9, allowed)
}

const dir = mkdtempSync(join(tmpdir(), 'fastify-limiter-bench-'))
try {
  const rows: Record<string, Record<string, string>> = {}
  const memory = new MemoryStore()
  rows['memory'] = measure(memory, 1_000_000)
  memory.close()
  const sqlite = new SqliteStore({ path: join(dir, 'bench.db'), batch: false })
  rows['SQLite, batch: false (WAL file in os.tmpdir())'] = measure(sqlite, 200_000)
  sqlite.close()
  const inMemory = new SqliteStore({ path: ':memory:', batch: false })
  rows["SQLite, batch: false (':memory:')"] = measure(inMemory, 200_000)
  inMemory.close()

  const header = ['store', 'decisions/s', 'p50 µs', 'p99 µs', 'p99.9 µs', 'allowed']
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...Object.entries(rows).map(([name, row]) => `| ${[name, ...header.slice(1).map((h) => row[h])].join(' | ')} |`)
  ]
  process.stdout.write(`sliding-window, ${KEYS.toLocaleString('en-US')} keys at 100/min, one process; ` +
    `Node ${process.version}, ${cpus().length} × ${cpus()[0].model}\n\n${lines.join('\n')}\n`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
