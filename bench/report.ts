// Turns the benchmark's measurements into medians, the chart (SVG) and the results section of
// BENCHMARKS.md (and README's Performance section), between their markers.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Load } from './processes.js'
import type { ProfileSummary } from './profile.js'
import { servers } from './servers/names.js'
import type { ServerName } from './servers/names.js'

export interface Measurement extends Load {
  name: ServerName
  round: number
  cpuUsPerRequest: number
  redisCommandsPerRequest: number
}

export interface BenchResults {
  date: string
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
  /** Median over rounds of (bare Fastify's CPU µs per request ÷ this one's), same round. */
  ratio: number
  /** Median over rounds of (this one's requests/s ÷ bare Fastify's), same round. */
  rpsRatio: number
  cpuUs: number
  rps: number
  p99: number
  non2xx: number
  redisCommands: number
  rounds: number
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Medians per server; every ratio is taken against bare Fastify of the same round first. */
export function rows (results: BenchResults): Row[] {
  const bare = new Map(results.measurements.filter((m) => m.name === 'bare').map((m) => [m.round, m]))
  const names = [...new Set(results.measurements.map((m) => m.name))]
  return names.map((name) => {
    const runs = results.measurements.filter((m) => m.name === name && bare.has(m.round))
    const base = (m: Measurement) => bare.get(m.round) as Measurement
    return {
      name,
      label: servers[name].label,
      ratio: median(runs.map((m) => base(m).cpuUsPerRequest / m.cpuUsPerRequest)),
      rpsRatio: median(runs.map((m) => m.rps / base(m).rps)),
      cpuUs: median(runs.map((m) => m.cpuUsPerRequest)),
      rps: median(runs.map((m) => m.rps)),
      p99: median(runs.map((m) => m.p99)),
      non2xx: median(runs.map((m) => m.non2xx / m.requests)),
      redisCommands: median(runs.map((m) => m.redisCommandsPerRequest)),
      rounds: runs.length
    }
  })
}

/** The goals of issue 7, as ratios to bare Fastify (CPU per request) and bytes per key. */
const targets: Array<{ what: string, name: ServerName, min: number }> = [
  { what: 'memory sliding-window, legacy headers', name: 'fl-memory-sw', min: 0.87 },
  { what: 'every response 429, memory', name: 'fl-memory-429', min: 0.80 },
  { what: 'Redis', name: 'fl-redis', min: 0.60 },
  { what: 'Redis, flood of already-blocked clients (and 0 Redis commands per denial)', name: 'fl-redis-blocked', min: 0.80 }
]

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
  const head = '| server | ratio to bare (CPU) | server CPU µs/req | req/s | ratio to bare (req/s) | p99 ms | non-2xx | Redis commands/req |'
  const lines = list.map((r) => `| ${r.label} | **${fmt(r.ratio)}** | ${fmt(r.cpuUs, 1)} | ${Math.round(r.rps).toLocaleString('en-US')} | ` +
    `${fmt(r.rpsRatio)} | ${r.p99} | ${(100 * r.non2xx).toFixed(0)}% | ${r.redisCommands < 0.005 ? '0' : fmt(r.redisCommands)} |`)
  return [head, '|---|---|---|---|---|---|---|---|', ...lines].join('\n')
}

function targetTable (list: Row[], results: BenchResults): string {
  const by = new Map(list.map((r) => [r.name, r]))
  const lines = targets.flatMap((t) => {
    const r = by.get(t.name)
    if (r === undefined) return []
    const met = r.ratio >= t.min && (t.name !== 'fl-redis-blocked' || r.redisCommands < 0.005)
    return [`| ${t.what} | >= ${fmt(t.min)} | ${fmt(r.ratio)}${t.name === 'fl-redis-blocked' ? `, ${fmt(r.redisCommands)} commands/req` : ''} | ${met ? 'met' : `**missed** by ${fmt(Math.max(0, t.min - r.ratio))}`} |`]
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
    `${p.requests.toLocaleString('en-US')} requests measured (plus 1 s of warm-up), ${Math.round(p.totalMs)} ms of samples; ` +
    `**${(100 * p.pluginInclusive).toFixed(1)}%** of samples had a fastify-limiter frame on the stack (the plugin and everything it called).`,
    '',
    '| self % | self ms | function | where |',
    '|---|---|---|---|',
    ...p.top.map((f) => `| ${(100 * f.share).toFixed(1)} | ${Math.round(f.selfMs)} | \`${f.fn}\` | ${f.where} |`)
  ].join('\n')).join('\n\n')
}

function memoryTable (memory: NonNullable<BenchResults['memory']>): string {
  return [
    `Heap bytes per key at ${memory.keys.toLocaleString('en-US')} keys (\`heapUsed\` after a full GC, before and after inserting, ÷ keys; each in a fresh process, \`--expose-gc\`). ` +
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

/** Writes bench/results/latest.json, docs/benchmarks.svg and the results part of BENCHMARKS.md. */
export function writeReport (root: string, results: BenchResults): void {
  const list = rows(results)
  mkdirSync(join(root, 'bench', 'results'), { recursive: true })
  writeFileSync(join(root, 'bench', 'results', 'latest.json'), JSON.stringify(results, null, 2) + '\n')
  writeFileSync(join(root, 'docs', 'benchmarks.svg'), chart(list))
  const { machine: m, settings: s } = results
  const body = [
    `Measured ${results.date.slice(0, 16).replace('T', ' ')} UTC with \`${results.command}\` ` +
    `(${results.minutes.toFixed(1)} minutes): ${m.nproc} × ${m.cpu}, Node ${m.node}, ${m.redis.split(' ').slice(0, 3).join(' ')}; ` +
    `load average ${m.loadBefore.toFixed(1)} before, ${m.loadAfter.toFixed(1)} after. ` +
    `${s.rounds} rounds, each server ${s.warmup} s of warm-up then ${s.seconds} s measured, autocannon -c ${s.connections}; medians of the rounds.`,
    '',
    '![Throughput per CPU relative to bare Fastify](docs/benchmarks.svg)',
    '',
    table(list),
    '',
    '### Targets (issue 7)',
    '',
    targetTable(list, results),
    ...(results.memory === undefined ? [] : ['', '### Memory per key', '', memoryTable(results.memory)]),
    ...(results.profiles.length === 0 ? [] : ['', '### CPU profiles of the request path', '', profileTables(results.profiles)])
  ].join('\n')
  const file = join(root, 'BENCHMARKS.md')
  if (!existsSync(file)) writeFileSync(file, '# Benchmarks\n\n<!-- bench:start -->\n<!-- bench:end -->\n')
  replaceBetween(file, 'bench', body)
  process.stdout.write(`\n${table(list)}\n\n${targetTable(list, results)}\n`)
}
