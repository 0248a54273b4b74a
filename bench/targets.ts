// The benchmark's targets, judged from the rows of a run: each with its goal, its measured
// value, met or missed, and the noise of the run beside it. Goals of the benchmark, never timed tests.
import { fmt } from './rows.js'
import type { BenchResults, Row } from './rows.js'
import { servers } from './servers/names.js'
import type { ServerName } from './servers/names.js'

/**
 * A goal for server `name`, as its ratio to bare Fastify (CPU per request): at least `min`, at
 * least `factor` times another server's ratio (`over`), at least `1 - share` times another's
 * (`within`); or at most `redisCpuUs` of Redis CPU per request. `noCommands`: also no Redis
 * command per request.
 */
interface Target {
  what: string
  name: ServerName
  min?: number
  over?: { name: ServerName, factor: number }
  within?: { name: ServerName, share: number }
  redisCpuUs?: number
  noCommands?: boolean
}

/**
 * Issue 21. Each Redis target compares servers whose ioredis clients are set alike: the floor's
 * client is not auto-pipelined (it batches by itself), nor is the one the store creates from a URL;
 * @fastify/rate-limit's is, as is fl-redis's.
 */
const targets: Target[] = [
  { what: 'SQLite store, default options', name: 'fl-sqlite', min: 0.85 },
  { what: 'memory store (sliding-window), 0.97 × the three-header floor', name: 'fl-memory-sw', within: { name: 'headers-only', share: 0.03 } },
  { what: 'every response a 429, memory', name: 'fl-memory-429', min: 0.90 },
  { what: 'a new client per request, memory', name: 'fl-many-clients', min: 0.85 },
  { what: 'Redis (no auto-pipelining) within 10% of the Redis floor', name: 'fl-redis-unpipelined', within: { name: 'redis-floor', share: 0.10 } },
  { what: 'Redis (auto-pipelined), 1.4 × @fastify/rate-limit on Redis', name: 'fl-redis', over: { name: 'frl-redis', factor: 1.4 } }
]

/**
 * Issues 7 and 13, where issue 21 did not replace them (it replaced Redis >= 0.75, 1.3 × both
 * peers on Redis, and SQLite >= 0.60); bytes per key are judged apart, from the memory results.
 */
const earlier: Target[] = [
  { what: 'Redis CPU per request (µs)', name: 'fl-redis', redisCpuUs: 6 },
  { what: 'Redis, flood of already-blocked clients (and 0 Redis commands per denial)', name: 'fl-redis-blocked', min: 0.80, noCommands: true }
]

const BYTES_PER_KEY = 120

/** A target judged: its table cells, and whether it was measured and met. */
interface Judged {
  target: Target
  goal: string
  measured: string
  noise: string
  verdict: string
  /** Undefined when a row the target needs is not in the run. */
  met?: boolean
}

/**
 * The ratio a target asks for (undefined when a row it needs is missing) and how it reads in the
 * goal column: ">= 0.85", ">= 0.92 (0.97 × 0.95)", or ">= 0.9 × Redis floor" when that row is missing.
 */
function goal (t: Target, by: Map<ServerName, Row>): { ratio?: number, text: string } {
  if (t.min !== undefined) return { ratio: t.min, text: `>= ${fmt(t.min)}` }
  const rule = (t.over ?? t.within) as NonNullable<Target['over'] | Target['within']>
  const factor = 'factor' in rule ? rule.factor : 1 - rule.share
  const other = by.get(rule.name)
  if (other === undefined) return { text: `>= ${factor} × ${servers[rule.name].label.replace(/:.*/, '')}` }
  return { ratio: factor * other.ratio, text: `>= ${fmt(factor * other.ratio)} (${factor} × ${fmt(other.ratio)})` }
}

/** `t` judged on the run's rows; `noise` is the bare row's median absolute deviation. */
function judge (t: Target, by: Map<ServerName, Row>, noise: number): Judged {
  const row = by.get(t.name)
  if (t.redisCpuUs !== undefined) {
    const goalText = `<= ${fmt(t.redisCpuUs, 1)}`
    if (row === undefined) return { target: t, goal: goalText, measured: notMeasured([t.name], by), noise: '', verdict: '' }
    const met = row.redisCpuUs <= t.redisCpuUs
    return { target: t, goal: goalText, measured: fmt(row.redisCpuUs, 1), noise: '', verdict: met ? 'met' : `**missed** by ${fmt(row.redisCpuUs - t.redisCpuUs, 1)} µs`, met }
  }
  const want = goal(t, by)
  if (row === undefined || want.ratio === undefined) {
    const needs = [t.name, ...[t.over?.name, t.within?.name].filter((n) => n !== undefined)]
    return { target: t, goal: want.text, measured: notMeasured(needs, by), noise: '', verdict: '' }
  }
  const commandsMet = t.noCommands !== true || row.redisCommands < 0.005
  const met = row.ratio >= want.ratio && commandsMet
  const gap = row.ratio - want.ratio
  const verdict = met ? 'met' : `**missed** by ${fmt(Math.max(0, -gap))}${commandsMet ? '' : `, ${fmt(row.redisCommands)} commands/req`}`
  return {
    target: t,
    goal: want.text,
    measured: fmt(row.ratio) + (t.noCommands === true ? `, ${fmt(row.redisCommands)} commands/req` : ''),
    noise: `±${fmt(noise)}`,
    verdict: verdict + (Math.abs(gap) <= noise && commandsMet ? ' (within the noise)' : ''),
    met
  }
}

/** "not measured", naming the servers a target needs that the run did not measure. */
function notMeasured (needs: ServerName[], by: Map<ServerName, Row>): string {
  return `not measured (no run of ${needs.filter((n) => !by.has(n)).map((n) => `"${servers[n].label}"`).join(' nor of ')})`
}

/** The noise of a run: the median absolute deviation of the bare row's per-run ratios (NaN without one). */
function noiseOf (by: Map<ServerName, Row>): number {
  return by.get('bare')?.mad ?? NaN
}

function render (judged: Judged[]): string[] {
  return judged.map((j) => `| ${j.target.what} | ${j.goal} | ${j.measured} | ${j.noise} | ${j.verdict} |`)
}

const HEAD = ['| target | goal | measured | noise | |', '|---|---|---|---|---|']

/**
 * The targets of issue 21, then the earlier ones that still stand, as two Markdown tables.
 * Every target has a line: one that needs a server the run did not measure says so.
 */
export function targetTables (list: Row[], results: BenchResults): string {
  const by = new Map(list.map((r) => [r.name, r]))
  const noise = noiseOf(by)
  const bytes = results.memory === undefined
    ? []
    : ['fixed-window', 'sliding-window'].map((name) => {
        const b = (results.memory as NonNullable<BenchResults['memory']>).bytesPerKey[name]
        return `| memory store, ${name}, bytes per key at 1,000,000 keys | <= ${BYTES_PER_KEY} | ${Math.round(b)} | | ${b <= BYTES_PER_KEY ? 'met' : `**missed** by ${Math.round(b - BYTES_PER_KEY)} B`} |`
      })
  return [
    'Ratios to bare Fastify (CPU per request). The noise is the bare row\'s: the median absolute deviation of ' +
    `its ${by.get('bare')?.rounds ?? 0} per-run ratios from their median (±${fmt(noise)} in this run), about the standard error of ` +
    `a row's median of ${results.settings.rounds} rounds; a target met or missed by less than that is marked "within the noise".`,
    '',
    '#### Issue 21',
    '',
    ...HEAD,
    ...render(targets.map((t) => judge(t, by, noise))),
    '',
    '#### Earlier targets that still stand (issues 7 and 13)',
    '',
    ...HEAD,
    ...render(earlier.map((t) => judge(t, by, noise))),
    ...bytes
  ].join('\n')
}

/** The targets of the run that were measured and missed, as "what (measured, goal …)". */
export function missedTargets (list: Row[]): string[] {
  const by = new Map(list.map((r) => [r.name, r]))
  const noise = noiseOf(by)
  return [...targets, ...earlier].map((t) => judge(t, by, noise))
    .filter((j) => j.met === false)
    .map((j) => `${j.target.what} (${j.measured}, goal ${j.goal.replace(/^[<>]= /, '').replace(/ \(.*\)$/, '')})`)
}
