// Turns the rows of a run into the chart (SVG) and, between their markers, the results section of
// BENCHMARKS.md, the summary in docs/performance.md and the cost of each store in README.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cell, codeCell } from './markdown.js'
import type { ProfileSummary } from './profile.js'
import { fmt, rows } from './rows.js'
import type { BenchResults, Row } from './rows.js'
import { servers } from './servers/names.js'
import type { ServerName } from './servers/names.js'
import { missedTargets, targetTables } from './targets.js'

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
function performanceSection (list: Row[], results: BenchResults): string {
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
  const missed = missedTargets(list)
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
    (by.has('redis-floor')
      ? `One EVALSHA per turn of the event loop carrying every request, plus those headers, scores ${ratio('redis-floor')}: the floor for ` +
        `a limiter on Redis that batches; fastify-limiter on the same client (no auto-pipelining, as the store creates it) scores ${ratio('fl-redis-unpipelined')}. `
      : '') +
    (missed.length === 0
      ? 'Every measured target of the benchmark is met. '
      : `Targets missed in this run: ${missed.join('; ')}. `) +
    'The method, every server, the CPU profiles of the request path and why the numbers are what they are: [BENCHMARKS.md](../BENCHMARKS.md).'
  ].join('\n')
}

/**
 * README's "Which store": what each store costs with its default options (the memory store's
 * sliding-window, SQLite by `sqlite:`, Redis on a client made as the store makes one from a URL).
 */
function whichStore (list: Row[], results: BenchResults): string {
  const by = new Map(list.map((r) => [r.name, r]))
  const bare = by.get('bare')
  const cost = (name: ServerName) => {
    const r = by.get(name)
    if (r === undefined || bare === undefined) return 'not measured in this run'
    return `**${fmt(r.ratio)}** of bare Fastify (${fmt(r.cpuUs, 1)} µs of server CPU per request against ${fmt(bare.cpuUs, 1)}; ` +
      `the benchmark's "${r.label}")`
  }
  const redisCpu = by.get('fl-redis-unpipelined')?.redisCpuUs
  return [
    'What each store costs with its default options: server CPU per request as a ratio to bare Fastify (1.00 = no ' +
    `limiter, higher is better), from \`npm run bench\` at ${results.commit} (${results.date.slice(0, 10)}; [Benchmarks](BENCHMARKS.md)).`,
    '',
    `- memory: ${cost('fl-memory-sw')}`,
    `- SQLite, \`sqlite: 'limits.db'\`: ${cost('fl-sqlite')}`,
    `- Redis, \`redis: 'redis://…'\`: ${cost('fl-redis-unpipelined')}` +
    (redisCpu === undefined ? '' : `, and ${fmt(redisCpu, 1)} µs of Redis server CPU per request`)
  ].join('\n')
}

/** Writes bench/results/latest.json, docs/benchmarks.svg and the generated parts of BENCHMARKS.md, docs/performance.md and README.md. */
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
    '### Targets',
    '',
    targetTables(list, results),
    ...(results.memory === undefined ? [] : ['', '### Memory per key', '', memoryTable(results.memory)]),
    ...(results.profiles.length === 0 ? [] : ['', '### CPU profiles of the request path', '', profileTables(results.profiles)])
  ].join('\n')
  const file = join(root, 'BENCHMARKS.md')
  if (!existsSync(file)) writeFileSync(file, '# Benchmarks\n\n<!-- bench:start -->\n<!-- bench:end -->\n')
  replaceBetween(file, 'bench', body)
  const performancePage = join(root, 'docs', 'performance.md')
  if (readFileSync(performancePage, 'utf8').includes('<!-- performance:start -->')) replaceBetween(performancePage, 'performance', performanceSection(list, results))
  replaceBetween(join(root, 'README.md'), 'which-store', whichStore(list, results))
  process.stdout.write(`\n${table(list)}\n\n${targetTables(list, results)}\n`)
}
