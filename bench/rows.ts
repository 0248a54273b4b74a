// The benchmark's results (bench/results/*.json) and the rows of its tables: per server, the
// medians over the rounds of its ratios to the bare Fastify runs around it.
import type { Load } from './processes.js'
import type { ProfileSummary } from './profile.js'
import { servers } from './servers/names.js'
import type { ServerName } from './servers/names.js'

export interface Measurement extends Load {
  name: ServerName
  /** Set when the server ran on the baseline build (`--baseline`). */
  baseline?: true
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
  /** The commit of the baseline build, in an A/B run (`--baseline`). */
  baseline?: string
}

export interface Row {
  name: ServerName
  label: string
  /** Median over rounds of (CPU µs per request of the bare runs around this one ÷ this one's). */
  ratio: number
  /**
   * The median absolute deviation of the per-run ratios from `ratio`. For bare Fastify, whose
   * runs are compared with their bare neighbours, it is the noise of the run (about the standard
   * error of a median of 5 rounds: 0.67 σ against 1.25 σ ÷ √5 = 0.56 σ).
   */
  mad: number
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

/** A ratio as the tables show it (two decimals), or µs with `digits` 1. */
export const fmt = (n: number, digits = 2) => n.toFixed(digits)

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * Bare Fastify around a measurement: the mean of the bare runs just before and just after it in
 * the same round (or the one of them there is).
 */
export function baseline (all: Measurement[], m: Measurement): { cpu: number, rps: number } | undefined {
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
    const ratios = runs.map(({ m, base }) => base.cpu / m.cpuUsPerRequest)
    const ratio = median(ratios)
    return {
      name,
      label: servers[name].label,
      ratio,
      mad: median(ratios.map((r) => Math.abs(r - ratio))),
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
