// Turns the benchmark's measurements into medians, the chart (SVG) and the results section of
// BENCHMARKS.md (and docs/performance.md), between their markers.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cell, codeCell } from './markdown.js'
import type { Load } from './processes.js'
import type { ProfileSummary } from './profile.js'
import { servers } from './servers/names.js'
import type { ServerName } from './servers/names.js'

export interface Measurement extends Load {
  name: ServerName
  round: number
  /** Position in the round. */
  seq: number
  cpuUsPerRequest: number
  /** CPU the Redis server(s) used (INFO cpu, user + sys, every master) ÷ requests; absent in results older than it. */
  redisCpuUsPerRequest?: number
  redisCommandsPerRequest: number
}

export interface BenchResults {
  date: string
  commit: string
  command: string
  machine: { nproc: number, cpu: string, node: string, redis: string, loadBefore: number, loadAfter: number }
  settings: { rounds: number, seconds: number, warmup: number, connections: number }
  minutes: number
  measurements: Measurement[]
  profiles: ProfileSummary[]
  memory: { keys: number, sampleKey: string, bytesPerKey: Record<string, number> } | undefined
}

export interface Row {
  name: ServerName
  label: string
  /** Median over rounds of (CPU µs per request of the bare runs around this one ÷ this one's). */
  ratio: number
  /** Median over rounds of (this one's requests/s ÷ that of the bare runs around it). */
  rpsRatio: number
  /**
   * The least CPU per request of any bare run ÷ this server's least: contention on a shared
   * machine only ever adds CPU time, so the best runs are the least disturbed ones.
   */
  bestRatio: number
  cpuUs: number
  rps: number
  p99: number
  non2xx: number
  redisCommands: number
  /** Median Redis server CPU µs per request (0 for a server that does not use Redis). */
  redisCpuUs: number
  rounds: number
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * Bare Fastify around a measurement: the mean of the bare runs just before and just after it in
 * the same round (or the one of them there is).
 */
function baseline (all: Measurement[], m: Measurement): { cpu: number, rps: number } | undefined {
  const bare = all.filter((b) => b.name === 'bare' && b.round === m.round && b !== m)
  const before = bare.filter((b) => b.seq < m.seq).sort((a, b) => b.seq - a.seq)[0]
  const after = bare.filter((b) => b.seq > m.seq).sort((a, b) => a.seq - b.seq)[0]
  const around = [before, after].filter((b) => b !== undefined)
  if (around.length === 0) return undefined
  const mean = (f: (b: Measurement) => number) => around.reduce((sum, b) => sum + f(b), 0) / around.length
  return { cpu: mean((b) => b.cpuUsPerRequest), rps: mean((b) => b.rps) }
}

/**
 * Medians per server over the rounds; every ratio is first taken against the bare runs around
 * the measurement. For bare Fastify itself, each run is compared with the bare runs around it:
 * how far that is from 1.00 is the noise of the machine.
 */
export function rows (results: BenchResults): Row[] {
  const all = results.measurements
  const names = [...new Set(all.map((m) => m.name))]
  const least = (name: ServerName) => Math.min(...all.filter((m) => m.name === name).map((m) => m.cpuUsPerRequest))
  return names.map((name) => {
    const runs = all.filter((m) => m.name === name).flatMap((m) => {
      const base = baseline(all, m)
      return base === undefined ? [] : [{ m, base }]
    })
    return {
      name,
      label: servers[name].label,
      ratio: median(runs.map(({ m, base }) => base.cpu / m.cpuUsPerRequest)),
      rpsRatio: median(runs.map(({ m, base }) => m.rps / base.rps)),
      bestRatio: least('bare') / least(name),
      cpuUs: median(runs.map(({ m }) => m.cpuUsPerRequest)),
      rps: median(runs.map(({ m }) => m.rps)),
      p99: median(runs.map(({ m }) => m.p99)),
      non2xx: median(runs.map(({ m }) => m.non2xx / m.requests)),
      redisCommands: median(runs.map(({ m }) => m.redisCommandsPerRequest)),
      redisCpuUs: median(runs.map(({ m }) => m.redisCpuUsPerRequest ?? 0)),
      rounds: runs.length
    }
  })
}

/**
 * The goals (issues 7 and 13), as ratios to bare Fastify (CPU per request): a `min` ratio, a
 * ratio `over` other servers' by a factor, `within` a share of another server's ratio, or at
 * most `redisCpuUs` of Redis CPU per request. Goals of the benchmark, never timed tests.
 */
interface Target {
  what: string
  name: ServerName
  min?: number
  over?: { names: ServerName[], factor: number }
  within?: { name: ServerName, share: number }
  redisCpuUs?: number
}

const targets: Target[] = [
  { what: 'memory sliding-window, within 3% of the 3-header floor', name: 'fl-memory-sw', within: { name: 'headers-only', share: 0.03 } },
  { what: 'every response 429, memory', name: 'fl-memory-429', min: 0.90 },
  { what: 'a new client per request, memory', name: 'fl-many-clients', min: 0.85 },
  { what: 'Redis', name: 'fl-redis', min: 0.75 },
  { what: 'Redis, 1.3 times @fastify/rate-limit and rate-limiter-flexible on Redis', name: 'fl-redis', over: { names: ['frl-redis', 'rlf-redis'], factor: 1.3 } },
  { what: 'Redis CPU per request (µs)', name: 'fl-redis', redisCpuUs: 6 },
  { what: 'Redis, flood of already-blocked clients (and 0 Redis commands per denial)', name: 'fl-redis-blocked', min: 0.80 },
  { what: 'SQLite', name: 'fl-sqlite', min: 0.60 }
]

/** The ratio a target asks for, given the other rows (undefined when a row it needs is missing). */
function goal (target: Target, by: Map<ServerName, Row>): number | undefined {
  if (target.min !== undefined) return target.min
  if (target.over !== undefined) {
    const others = target.over.names.map((n) => by.get(n))
    if (others.some((r) => r === undefined)) return undefined
    return target.over.factor * Math.max(...others.map((r) => (r as Row).ratio))
  }
  if (target.within !== undefined) {
    const floor = by.get(target.within.name)
    return floor === undefined ? undefined : floor.ratio * (1 - target.within.share)
  }
  return undefined
}

/** Whether a server reached its target (the blocked-clients one also asks for no Redis command per denial). */
function met (target: Target, row: Row, by: Map<ServerName, Row>): boolean {
  if (target.redisCpuUs !== undefined) return row.redisCpuUs <= target.redisCpuUs
  const want = goal(target, by)
  return want !== undefined && row.ratio >= want && (target.name !== 'fl-redis-blocked' || row.redisCommands < 0.005)
}

const fmt = (n: number, digits = 2) => n.toFixed(digits)

function family (name: ServerName): string {
  if (name.startsWith('fl-')) return '#2563eb'
  if (name.startsWith('frl-')) return '#ea580c'
  if (name.startsWith('rlf-')) return '#16a34a'
  return '#6b7280'
}

/** Horizontal bars: each server's ratio to bare Fastify (1.0 = as cheap as no limiter at all). */
export function chart (list: Row[]): string {
  const barH = 22
  const left = 430
  const width = 360
  const scale = width / 1.1
  const top = 40
  const height = top + list.length * barH + 40
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const bars = list.map((r, i) => {
    const y = top + i * barH
    const w = Math.max(1, Math.min(1.1, r.ratio) * scale)
    return `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(r.label)}</text>` +
      `<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${barH - 6}" fill="${family(r.name)}"/>` +
      `<text x="${(left + w + 6).toFixed(1)}" y="${y + 15}">${fmt(r.ratio)} (${fmt(r.cpuUs, 1)} µs)</text>`
  }).join('\n')
  const grid = [0, 0.25, 0.5, 0.75, 1].map((v) => {
    const x = left + v * scale
    return `<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${height - 30}" stroke="${v === 1 ? '#111' : '#ddd'}"${v === 1 ? ' stroke-dasharray="4 3"' : ''}/>` +
      `<text x="${x}" y="${height - 14}" text-anchor="middle" fill="#555">${v}</text>`
  }).join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 140}" height="${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="20" font-size="14" font-weight="bold">Throughput per CPU, relative to bare Fastify (higher is better; server CPU µs per request in brackets)</text>
${grid}
${bars}
</svg>
`
}

function table (list: Row[]): string {
  const head = '| server | ratio to bare (CPU) | best-run ratio | server CPU µs/req | Redis CPU µs/req | req/s | ratio to bare (req/s) | p99 ms | non-2xx | Redis commands/req |'
  const lines = list.map((r) => `| ${r.label} | **${fmt(r.ratio)}** | ${fmt(r.bestRatio)} | ${fmt(r.cpuUs, 1)} | ${r.redisCpuUs < 0.05 ? '' : fmt(r.redisCpuUs, 1)} | ` +
    `${Math.round(r.rps).toLocaleString('en-US')} | ${fmt(r.rpsRatio)} | ${r.p99} | ${(100 * r.non2xx).toFixed(0)}% | ${r.redisCommands < 0.005 ? '0' : fmt(r.redisCommands)} |`)
  return [head, '|---|---|---|---|---|---|---|---|---|---|', ...lines].join('\n')
}

function targetTable (list: Row[], results: BenchResults): string {
  const by = new Map(list.map((r) => [r.name, r]))
  const lines = targets.flatMap((t) => {
    const r = by.get(t.name)
    if (r === undefined) return []
    if (t.redisCpuUs !== undefined) {
      return [`| ${t.what} | <= ${fmt(t.redisCpuUs, 1)} | ${fmt(r.redisCpuUs, 1)} | ${met(t, r, by) ? 'met' : `**missed** by ${fmt(r.redisCpuUs - t.redisCpuUs, 1)} µs`} |`]
    }
    const want = goal(t, by)
    if (want === undefined) return []
    return [`| ${t.what} | >= ${fmt(want)} | ${fmt(r.ratio)}${t.name === 'fl-redis-blocked' ? `, ${fmt(r.redisCommands)} commands/req` : ''} | ${met(t, r, by) ? 'met' : `**missed** by ${fmt(Math.max(0, want - r.ratio))}`} |`]
  })
  if (results.memory !== undefined) {
    for (const name of ['fixed-window', 'sliding-window']) {
      const b = results.memory.bytesPerKey[name]
      lines.push(`| memory store, ${name}, bytes per key at 1,000,000 keys | <= 120 | ${Math.round(b)} | ${b <= 120 ? 'met' : `**missed** by ${Math.round(b - 120)} B`} |`)
    }
  }
  return ['| target | goal | measured | |', '|---|---|---|---|', ...lines].join('\n')
}

function profileTables (profiles: ProfileSummary[]): string {
  return profiles.map((p) => [
    `#### ${servers[p.name].label}`,
    '',
    `${p.requests.toLocaleString('en-US')} requests measured (the profile also holds start-up and 1 s of warm-up), ` +
    `${Math.round(p.totalMs)} ms of busy samples. Where the busy time went (a sample counts for the nearest frame with a ` +
    'script, so a native like `escape` or `writev` counts for its caller): ' +
    p.groups.filter((g) => g.share >= 0.005).map((g) => `${g.group} ${(100 * g.share).toFixed(1)}%`).join(', ') + '.',
    '',
    '| self % of busy | self ms | function | where |',
    '|---|---|---|---|',
    ...p.top.map((f) => `| ${(100 * f.share).toFixed(1)} | ${Math.round(f.selfMs)} | ${codeCell(f.fn)} | ${cell(f.where.replace(/^.*node_modules\//, ''))} |`)
  ].join('\n')).join('\n\n')
}

function memoryTable (memory: NonNullable<BenchResults['memory']>): string {
  return [
    `Heap bytes per key at ${memory.keys.toLocaleString('en-US')} keys (\`heapUsed\` + \`arrayBuffers\` after a full GC, before and after inserting, ÷ keys; each in a fresh process, \`--expose-gc\`; \`arrayBuffers\` counts typed arrays, which V8 keeps outside \`heapUsed\`). ` +
    `fastify-limiter keys are the plugin's own, such as \`${memory.sampleKey}\` (${memory.sampleKey.length} characters, included in the bytes); the others store the bare IP.`,
    '',
    '| store | bytes per key |',
    '|---|---|',
    ...Object.entries(memory.bytesPerKey).map(([name, b]) =>
      `| ${name.includes('-window') ? `fastify-limiter MemoryStore, ${name}` : `${name} memory store`} | ${Math.round(b)} |`)
  ].join('\n')
}

/** Replaces the text between `<!-- name:start -->` and `<!-- name:end -->` in `file`. */
function replaceBetween (file: string, name: string, body: string): void {
  const text = readFileSync(file, 'utf8')
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const a = text.indexOf(start)
  const b = text.indexOf(end)
  if (a === -1 || b < a) throw new Error(`${file} has no ${start} ... ${end} markers`)
  writeFileSync(file, text.slice(0, a + start.length) + '\n' + body + '\n' + text.slice(b))
}

/** docs/performance.md: the headline ratios and bytes per key, and where to read more. */
function readmeSection (list: Row[], results: BenchResults): string {
  const by = new Map(list.map((r) => [r.name, r]))
  const ratio = (name: ServerName) => {
    const r = by.get(name)
    return r === undefined ? '—' : `${fmt(r.ratio)} (${fmt(r.cpuUs, 1)} µs)`
  }
  const redisCpu = (name: ServerName) => {
    const r = by.get(name)
    return r === undefined ? '—' : fmt(r.redisCpuUs, 1)
  }
  const bytes = (name: string) => results.memory === undefined ? '—' : `${Math.round(results.memory.bytesPerKey[name])} B`
  const { machine: m, settings: s } = results
  const missed = targets.filter((t) => by.has(t.name) && !met(t, by.get(t.name) as Row, by))
  return [
    'Server CPU per request relative to bare Fastify (1.00 = no limiter; higher is better), with the CPU µs per request, ' +
    `from \`npm run bench\` on ${m.nproc} × ${m.cpu}, Node ${m.node} (${results.date.slice(0, 10)}; medians of ${s.rounds} rounds, ` +
    'each server in its own process and autocannon in another). On a shared machine the absolute µs move from run to run; the ratios much less.',
    '',
    '| | fastify-limiter | @fastify/rate-limit | rate-limiter-flexible |',
    '|---|---|---|---|',
    `| memory store | ${ratio('fl-memory-sw')} sliding-window, ${ratio('fl-memory-fw')} fixed-window | ${ratio('frl-memory')} | ${ratio('rlf-memory')} |`,
    `| memory, every response a 429 | ${ratio('fl-memory-429')} | ${ratio('frl-memory-429')} | |`,
    `| Redis (ioredis, auto-pipelined) | ${ratio('fl-redis')} | ${ratio('frl-redis')} | ${ratio('rlf-redis')} |`,
    `| Redis CPU µs per request | ${redisCpu('fl-redis')} | ${redisCpu('frl-redis')} | ${redisCpu('rlf-redis')} |`,
    `| Redis Cluster (3 masters) | ${ratio('fl-redis-cluster')} | | |`,
    `| SQLite, one process; 4 processes on one file | ${ratio('fl-sqlite')}; ${ratio('fl-sqlite-4proc')} | | |`,
    `| Redis, a flood of already-blocked clients | ${ratio('fl-redis-blocked')}, ${fmt(by.get('fl-redis-blocked')?.redisCommands ?? NaN)} Redis commands per request | | |`,
    `| memory per key at 1,000,000 keys | ${bytes('sliding-window')} sliding-window, ${bytes('fixed-window')} fixed-window | ${bytes('@fastify/rate-limit')} | ${bytes('rate-limiter-flexible')} |`,
    '',
    `A hook that only sets the same three headers scores ${ratio('headers-only')}: the floor for any limiter that sends them. ` +
    (missed.length === 0
      ? 'Every target of the benchmark is met. '
      : `Targets missed in this run: ${missed.map((t) => t.redisCpuUs !== undefined
          ? `${t.what} (${fmt((by.get(t.name) as Row).redisCpuUs, 1)}, goal ${fmt(t.redisCpuUs, 1)})`
          : `${t.what} (${fmt((by.get(t.name) as Row).ratio)}, goal ${fmt(goal(t, by) ?? NaN)})`).join('; ')}. `) +
    'The method, every server, the CPU profiles of the request path and why the numbers are what they are: [BENCHMARKS.md](../BENCHMARKS.md).'
  ].join('\n')
}

/** Writes bench/results/latest.json, docs/benchmarks.svg and the results part of BENCHMARKS.md. */
export function writeReport (root: string, results: BenchResults): void {
  const list = rows(results)
  mkdirSync(join(root, 'bench', 'results'), { recursive: true })
  writeFileSync(join(root, 'bench', 'results', 'latest.json'), JSON.stringify(results, null, 2) + '\n')
  writeFileSync(join(root, 'docs', 'benchmarks.svg'), chart(list))
  const { machine: m, settings: s } = results
  const body = [
    `Measured ${results.date.slice(0, 16).replace('T', ' ')} UTC at commit ${results.commit} with \`${results.command}\` ` +
    `(${results.minutes.toFixed(1)} minutes): ${m.nproc} × ${m.cpu}, Node ${m.node}, ${m.redis.split(' ').slice(0, 3).join(' ')}; ` +
    `load average ${m.loadBefore.toFixed(1)} before, ${m.loadAfter.toFixed(1)} after. ` +
    `${s.rounds} rounds, each server ${s.warmup} s of warm-up then ${s.seconds} s measured, autocannon -c ${s.connections}; ` +
    'each ratio against the bare Fastify runs just before and after it in the same round, then the median of the rounds. ' +
    'The bare Fastify row compares each bare run with its neighbours: its distance from 1.00 is the noise of the machine. ' +
    '"best-run ratio" divides the least CPU per request of any bare run by the least of the server\'s runs (contention only adds CPU time).',
    '',
    '![Throughput per CPU relative to bare Fastify](docs/benchmarks.svg)',
    '',
    table(list),
    '',
    '### Targets (issues 7 and 13)',
    '',
    targetTable(list, results),
    ...(results.memory === undefined ? [] : ['', '### Memory per key', '', memoryTable(results.memory)]),
    ...(results.profiles.length === 0 ? [] : ['', '### CPU profiles of the request path', '', profileTables(results.profiles)])
  ].join('\n')
  const file = join(root, 'BENCHMARKS.md')
  if (!existsSync(file)) writeFileSync(file, '# Benchmarks\n\n<!-- bench:start -->\n<!-- bench:end -->\n')
  replaceBetween(file, 'bench', body)
  const readme = join(root, 'docs', 'performance.md')
  if (readFileSync(readme, 'utf8').includes('<!-- performance:start -->')) replaceBetween(readme, 'performance', readmeSection(list, results))
  process.stdout.write(`\n${table(list)}\n\n${targetTable(list, results)}\n`)
}
